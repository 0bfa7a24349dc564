//! Temporary stand-in until the nats conf reader lands.
pub fn parse_duration(s: &str) -> Result<std::time::Duration, String> {
    let (num, unit) = s.split_at(s.find(|c: char| !c.is_ascii_digit() && c != '.').unwrap_or(s.len()));
    let n: f64 = num.parse().map_err(|_| format!("invalid duration {s:?}"))?;
    let mul = match unit { "ns" => 1e-9, "us" | "µs" => 1e-6, "ms" => 1e-3, "s" | "" => 1.0, "m" => 60.0, "h" => 3600.0, _ => return Err(format!("invalid duration {s:?}")) };
    Ok(std::time::Duration::from_secs_f64(n * mul))
}
