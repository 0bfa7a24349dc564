//! Output: aligned Markdown tables (readable on a terminal and pasteable into docs) and
//! the per-run summary table of `natrium-bench <scenario>`.

use crate::scenario::Outcome;

/// A Markdown table with padded columns.
pub struct Table {
    head: Vec<String>,
    rows: Vec<Vec<String>>,
}

impl Table {
    pub fn new(head: &[&str]) -> Table {
        Table {
            head: head.iter().map(|s| s.to_string()).collect(),
            rows: Vec::new(),
        }
    }

    pub fn row(&mut self, cells: Vec<String>) {
        self.rows.push(cells);
    }

    pub fn render(&self) -> String {
        let n = self.head.len();
        let mut w: Vec<usize> = self.head.iter().map(|h| h.chars().count()).collect();
        for r in &self.rows {
            for (i, c) in r.iter().enumerate().take(n) {
                w[i] = w[i].max(c.chars().count());
            }
        }
        let line = |cells: &[String]| {
            let mut s = String::from("|");
            for (i, width) in w.iter().enumerate() {
                let c = cells.get(i).map(String::as_str).unwrap_or("");
                let pad = width - c.chars().count();
                if i == 0 {
                    s.push_str(&format!(" {c}{} |", " ".repeat(pad)));
                } else {
                    s.push_str(&format!(" {}{c} |", " ".repeat(pad)));
                }
            }
            s.push('\n');
            s
        };
        let mut out = line(&self.head);
        out.push('|');
        for (i, width) in w.iter().enumerate() {
            if i == 0 {
                out.push_str(&format!(" {} |", "-".repeat(*width)));
            } else {
                out.push_str(&format!(
                    " {}: |",
                    "-".repeat(width.saturating_sub(1).max(1))
                ));
            }
        }
        out.push('\n');
        for r in &self.rows {
            out.push_str(&line(r));
        }
        out
    }
}

/// `1234567.8` → `1,234,568`; small values keep precision.
pub fn num(v: f64) -> String {
    if !v.is_finite() {
        return "-".into();
    }
    if v.abs() >= 1000.0 {
        let s = format!("{:.0}", v.abs());
        let mut out = String::new();
        for (i, ch) in s.chars().enumerate() {
            if i > 0 && (s.len() - i) % 3 == 0 {
                out.push(',');
            }
            out.push(ch);
        }
        if v < 0.0 {
            out.insert(0, '-');
        }
        out
    } else if v.abs() >= 100.0 {
        format!("{v:.0}")
    } else if v.abs() >= 10.0 {
        format!("{v:.1}")
    } else {
        format!("{v:.2}")
    }
}

/// The unit of an outcome's headline rate.
pub fn rate_unit(o: &Outcome) -> &'static str {
    match o.scenario.as_str() {
        "pub" => "msgs/s",
        "pubsub" | "queue" | "jspub" | "mqtt-pubsub" => "msgs/s",
        "fanout" | "m2m" | "fanin" => "deliveries/s",
        "reqrep" => "req/s",
        _ => "conns/s",
    }
}

/// The table `natrium-bench <scenario>` prints.
pub fn outcomes_table(outcomes: &[Outcome]) -> String {
    let mut t = Table::new(&[
        "scenario",
        "sent",
        "delivered",
        "wall s",
        "rate",
        "MB/s",
        "p50/p99/p99.9 µs",
        "gen CPU %",
        "busiest gen thread %",
        "server CPU %",
        "server ns/msg",
        "other CPU %",
        "status",
    ]);
    for o in outcomes {
        let lat = o
            .latency
            .as_ref()
            .map(|l| format!("{}/{}/{}", num(l.p50_us), num(l.p99_us), num(l.p999_us)))
            .unwrap_or_else(|| "-".into());
        let rate = match &o.idle {
            Some(i) => match i.bytes_per_conn {
                Some(b) => format!(
                    "{} conns, {} B/conn (RSS {} → {} KiB)",
                    i.conns_open,
                    num(b),
                    i.rss_before_kib.unwrap_or(0),
                    i.rss_after_kib.unwrap_or(0)
                ),
                None => format!("{} conns", i.conns_open),
            },
            None => format!("{} {}", num(o.rate), rate_unit(o)),
        };
        let status = if o.ok {
            "ok".to_string()
        } else {
            format!("FAILED: {}", o.errors.join("; "))
        };
        t.row(vec![
            o.name.clone(),
            o.sent.to_string(),
            o.received.to_string(),
            format!("{:.3}", o.wall_secs),
            rate,
            if o.size > 0 {
                num(o.mb_per_sec)
            } else {
                "-".into()
            },
            lat,
            num(o.gen_cpu_pct),
            num(o.gen_busiest_thread_pct),
            o.server_cpu_pct.map(num).unwrap_or_else(|| "-".into()),
            o.server_cpu_ns_per_msg
                .map(num)
                .unwrap_or_else(|| "-".into()),
            o.other_cpu_pct.map(num).unwrap_or_else(|| "-".into()),
            status,
        ]);
    }
    let mut s = t.render();
    for o in outcomes {
        for n in &o.notes {
            s.push_str(&format!("note: {}: {n}\n", o.name));
        }
    }
    s
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn numbers() {
        assert_eq!(num(1234567.8), "1,234,568");
        assert_eq!(num(999.0), "999");
        assert_eq!(num(12.345), "12.3");
        assert_eq!(num(0.123), "0.12");
        assert_eq!(num(-1000.0), "-1,000");
        assert_eq!(num(f64::NAN), "-");
    }

    #[test]
    fn table_aligns() {
        let mut t = Table::new(&["a", "bb"]);
        t.row(vec!["xxx".into(), "1".into()]);
        let s = t.render();
        let lines: Vec<&str> = s.lines().collect();
        assert_eq!(lines[0], "| a   | bb |");
        assert_eq!(lines[1], "| --- | -: |");
        assert_eq!(lines[2], "| xxx |  1 |");
    }
}
