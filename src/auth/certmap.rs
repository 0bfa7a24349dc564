//! `verify_and_map`: which configured user a client certificate names, by nats-server's
//! rules (`checkClientTLSCertSubject` in auth.go, `internal/ldap/dn.go`):
//!
//! 1. each e-mail address in the subject alternative names, then each DNS name, then each
//!    URI, looked up literally as a user name;
//! 2. the subject as a distinguished name (RFC 4514), compared with every user name that
//!    parses as one: first position by position, then in any order of its RDNs;
//! 3. the subject in Go's `RDNSequence.String()` form with the domain components appended
//!    (`CN=alice,O=Acme,DC=example,DC=com`), then without them (`CN=alice,O=Acme`).
//!
//! The certificate has already been verified by rustls against the configured CA; this
//! module only reads it, with a small DER reader that rejects anything unexpected rather
//! than guessing (and never panics on malformed input).

/// One relative distinguished name: (attribute type OID, value if it is a string).
type Rdn = Vec<(Vec<u8>, Option<String>)>;

/// What verify_and_map needs from a certificate.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct CertNames {
    pub emails: Vec<String>,
    pub dns_names: Vec<String>,
    pub uris: Vec<String>,
    /// The subject's RDNs in certificate order, each a list of (type OID, value).
    subject: Vec<Rdn>,
}

// DER object identifiers (content bytes) of the attributes Go and nats-server name.
const OID_CN: &[u8] = &[0x55, 0x04, 0x03];
const OID_SERIAL: &[u8] = &[0x55, 0x04, 0x05];
const OID_C: &[u8] = &[0x55, 0x04, 0x06];
const OID_L: &[u8] = &[0x55, 0x04, 0x07];
const OID_ST: &[u8] = &[0x55, 0x04, 0x08];
const OID_STREET: &[u8] = &[0x55, 0x04, 0x09];
const OID_O: &[u8] = &[0x55, 0x04, 0x0a];
const OID_OU: &[u8] = &[0x55, 0x04, 0x0b];
const OID_POSTAL: &[u8] = &[0x55, 0x04, 0x11];
const OID_DC: &[u8] = &[0x09, 0x92, 0x26, 0x89, 0x93, 0xf2, 0x2c, 0x64, 0x01, 0x19];
const OID_SAN: &[u8] = &[0x55, 0x1d, 0x11];

/// Go's `pkix` names (its `String()` knows these; others are dropped from the subject
/// string nats-server matches, Go issue 12342).
fn pkix_name(oid: &[u8]) -> Option<&'static str> {
    Some(match oid {
        OID_C => "C",
        OID_O => "O",
        OID_OU => "OU",
        OID_CN => "CN",
        OID_SERIAL => "SERIALNUMBER",
        OID_L => "L",
        OID_ST => "ST",
        OID_STREET => "STREET",
        OID_POSTAL => "POSTALCODE",
        _ => return None,
    })
}

/// nats-server's ldap attribute names: Go's plus DC.
fn ldap_name(oid: &[u8]) -> Option<&'static str> {
    if oid == OID_DC {
        return Some("DC");
    }
    pkix_name(oid)
}

/// A DER reader over one level of a structure.
struct Der<'a>(&'a [u8]);

impl<'a> Der<'a> {
    fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    /// The next tag and its content.
    fn next(&mut self) -> Option<(u8, &'a [u8])> {
        let (&tag, rest) = self.0.split_first()?;
        if tag & 0x1f == 0x1f {
            return None; // high tag numbers do not occur in what we read
        }
        let (&first, rest) = rest.split_first()?;
        let (len, rest) = if first < 0x80 {
            (first as usize, rest)
        } else {
            let n = (first & 0x7f) as usize;
            if n == 0 || n > 4 || rest.len() < n {
                return None;
            }
            let len = rest[..n].iter().fold(0usize, |a, &b| (a << 8) | b as usize);
            (len, &rest[n..])
        };
        if rest.len() < len {
            return None;
        }
        let (content, rest) = rest.split_at(len);
        self.0 = rest;
        Some((tag, content))
    }

    fn expect(&mut self, tag: u8) -> Option<&'a [u8]> {
        match self.next()? {
            (t, c) if t == tag => Some(c),
            _ => None,
        }
    }

    fn peek_tag(&self) -> Option<u8> {
        self.0.first().copied()
    }
}

const SEQUENCE: u8 = 0x30;
const SET: u8 = 0x31;
const OID: u8 = 0x06;

/// A directory string as Go's asn1 decodes it into a string (others are not strings).
fn der_string(tag: u8, content: &[u8]) -> Option<String> {
    match tag {
        // UTF8String, NumericString, PrintableString, T61String, IA5String
        0x0c | 0x12 | 0x13 | 0x14 | 0x16 => String::from_utf8(content.to_vec()).ok(),
        // BMPString: UTF-16 big endian
        0x1e => {
            if content.len() % 2 != 0 {
                return None;
            }
            let units: Vec<u16> = content
                .chunks_exact(2)
                .map(|c| u16::from_be_bytes([c[0], c[1]]))
                .collect();
            String::from_utf16(&units).ok()
        }
        _ => None,
    }
}

impl CertNames {
    /// Reads the subject and subject alternative names of a DER certificate.
    pub fn from_der(cert: &[u8]) -> Option<CertNames> {
        let mut top = Der(cert);
        let mut certificate = Der(top.expect(SEQUENCE)?);
        let mut tbs = Der(certificate.expect(SEQUENCE)?);
        if tbs.peek_tag() == Some(0xa0) {
            tbs.next()?; // version
        }
        tbs.expect(0x02)?; // serial number
        tbs.expect(SEQUENCE)?; // signature algorithm
        tbs.expect(SEQUENCE)?; // issuer
        tbs.expect(SEQUENCE)?; // validity
        let subject = tbs.expect(SEQUENCE)?;
        tbs.expect(SEQUENCE)?; // subject public key info
        let mut names = CertNames {
            subject: parse_name(subject)?,
            ..Default::default()
        };
        while !tbs.is_empty() {
            let (tag, content) = tbs.next()?;
            if tag != 0xa3 {
                continue; // issuer/subject unique ids
            }
            let mut exts = Der(Der(content).expect(SEQUENCE)?);
            while !exts.is_empty() {
                let mut ext = Der(exts.expect(SEQUENCE)?);
                let oid = ext.expect(OID)?;
                if ext.peek_tag() == Some(0x01) {
                    ext.next()?; // critical
                }
                let value = ext.expect(0x04)?;
                if oid == OID_SAN {
                    names.read_san(value)?;
                }
            }
        }
        Some(names)
    }

    fn read_san(&mut self, value: &[u8]) -> Option<()> {
        let mut general = Der(Der(value).expect(SEQUENCE)?);
        while !general.is_empty() {
            let (tag, content) = general.next()?;
            let text = || String::from_utf8(content.to_vec()).ok();
            match tag {
                0x81 => self.emails.push(text()?),
                0x82 => self.dns_names.push(text()?),
                0x86 => self.uris.push(text()?),
                _ => {}
            }
        }
        Some(())
    }

    /// Go's `cert.Subject.ToRDNSequence().String()`: the known attributes regrouped in Go's
    /// fixed order (C, ST, L, STREET, POSTALCODE, O, OU, CN, SERIALNUMBER; one RDN per
    /// type, several values joined with `+`, CN and SERIALNUMBER the last one seen), then
    /// printed in reverse with RFC 2253 escaping.
    pub fn rdn_string(&self) -> String {
        let order = [
            OID_C, OID_ST, OID_L, OID_STREET, OID_POSTAL, OID_O, OID_OU, OID_CN, OID_SERIAL,
        ];
        let mut groups: Vec<(&'static str, Vec<&str>)> = Vec::new();
        for oid in order {
            let mut values: Vec<&str> = self
                .subject
                .iter()
                .flatten()
                .filter(|(t, _)| t == oid)
                .filter_map(|(_, v)| v.as_deref())
                .collect();
            if oid == OID_CN || oid == OID_SERIAL {
                values = values.pop().into_iter().collect();
            }
            if let (false, Some(name)) = (values.is_empty(), pkix_name(oid)) {
                groups.push((name, values));
            }
        }
        groups
            .iter()
            .rev()
            .map(|(name, values)| {
                values
                    .iter()
                    .map(|v| format!("{name}={}", escape_rdn_value(v)))
                    .collect::<Vec<_>>()
                    .join("+")
            })
            .collect::<Vec<_>>()
            .join(",")
    }

    /// nats-server's `getTLSAuthDCs`: `DC=a,DC=b` in certificate order, unescaped.
    pub fn domain_components(&self) -> String {
        self.subject
            .iter()
            .flatten()
            .filter(|(t, _)| t == OID_DC)
            .filter_map(|(_, v)| v.as_deref().map(|v| format!("DC={v}")))
            .collect::<Vec<_>>()
            .join(",")
    }

    /// nats-server's `ldap.FromRawCertSubject`: the subject as a DN (last RDN first), or
    /// `None` when an attribute is one it has no name for.
    pub fn subject_dn(&self) -> Option<Dn> {
        let mut rdns = Vec::new();
        for rdn in self.subject.iter().rev() {
            if rdn.is_empty() {
                continue;
            }
            let mut attrs = Vec::new();
            for (t, v) in rdn.iter().rev() {
                attrs.push((ldap_name(t)?.to_string(), v.clone()?));
            }
            rdns.push(attrs);
        }
        Some(Dn(rdns))
    }

    /// Whether the certificate names anything at all.
    pub fn is_empty(&self) -> bool {
        self.emails.is_empty()
            && self.dns_names.is_empty()
            && self.uris.is_empty()
            && self.subject.iter().all(|r| r.is_empty())
    }
}

fn parse_name(content: &[u8]) -> Option<Vec<Rdn>> {
    let mut rdns = Vec::new();
    let mut seq = Der(content);
    while !seq.is_empty() {
        let mut set = Der(seq.expect(SET)?);
        let mut rdn = Vec::new();
        while !set.is_empty() {
            let mut atv = Der(set.expect(SEQUENCE)?);
            let oid = atv.expect(OID)?.to_vec();
            let (tag, value) = atv.next()?;
            rdn.push((oid, der_string(tag, value)));
        }
        rdns.push(rdn);
    }
    Some(rdns)
}

/// Go's escaping in `RDNSequence.String()`.
fn escape_rdn_value(v: &str) -> String {
    let chars: Vec<char> = v.chars().collect();
    let mut out = String::with_capacity(v.len());
    for (i, &c) in chars.iter().enumerate() {
        let escape = match c {
            ',' | '+' | '"' | '\\' | '<' | '>' | ';' => true,
            ' ' => i == 0 || i == chars.len() - 1,
            '#' => i == 0,
            _ => false,
        };
        if escape {
            out.push('\\');
        }
        out.push(c);
    }
    out
}

/// A distinguished name: RDNs of (attribute type, value) pairs.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Dn(Vec<Vec<(String, String)>>);

impl Dn {
    /// nats-server's `ldap.ParseDN` (RFC 4514 with its leniencies); `None` if the text is
    /// not a DN (most user names are not).
    pub fn parse(s: &str) -> Option<Dn> {
        let b = s.as_bytes();
        let mut rdns = Vec::new();
        let mut rdn: Vec<(String, String)> = Vec::new();
        let mut buf: Vec<u8> = Vec::new();
        let mut typ: Option<String> = None;
        let mut trailing_spaces = 0usize;
        let take = |buf: &mut Vec<u8>, trailing: &mut usize| -> String {
            let keep = buf.len().saturating_sub(*trailing);
            let s = String::from_utf8_lossy(&buf[..keep]).into_owned();
            buf.clear();
            *trailing = 0;
            s
        };
        let mut i = 0;
        while i < b.len() {
            let c = b[i];
            match c {
                b'\\' => {
                    trailing_spaces = 0;
                    // A trailing backslash escapes nothing (nats-server ignores it).
                    let Some(&next) = b.get(i + 1) else { break };
                    if matches!(
                        next,
                        b' ' | b'"' | b'#' | b'+' | b',' | b';' | b'<' | b'=' | b'>' | b'\\'
                    ) {
                        buf.push(next);
                        i += 2;
                        continue;
                    }
                    let hex = b.get(i + 1..i + 3)?;
                    let hex = std::str::from_utf8(hex).ok()?;
                    buf.push(u8::from_str_radix(hex, 16).ok()?);
                    i += 3;
                    continue;
                }
                b'=' => {
                    typ = Some(take(&mut buf, &mut trailing_spaces));
                    if b.get(i + 1) == Some(&b'#') {
                        return None; // BER-encoded values are not supported
                    }
                }
                b',' | b'+' => {
                    let t = typ.take().filter(|t| !t.is_empty())?;
                    rdn.push((t, take(&mut buf, &mut trailing_spaces)));
                    if c == b',' {
                        rdns.push(std::mem::take(&mut rdn));
                    }
                }
                b' ' if buf.is_empty() => {}
                _ => {
                    if c == b' ' {
                        trailing_spaces += 1;
                    } else {
                        trailing_spaces = 0;
                    }
                    buf.push(c);
                }
            }
            i += 1;
        }
        if !buf.is_empty() {
            let t = typ.take().filter(|t| !t.is_empty())?;
            rdn.push((t, take(&mut buf, &mut trailing_spaces)));
            rdns.push(rdn);
        }
        Some(Dn(rdns))
    }

    fn rdn_eq(a: &[(String, String)], b: &[(String, String)]) -> bool {
        let has_all = |x: &[(String, String)], y: &[(String, String)]| {
            y.iter().all(|(ty, vy)| {
                x.iter()
                    .any(|(tx, vx)| tx.eq_ignore_ascii_case(ty) && vx == vy)
            })
        };
        a.len() == b.len() && has_all(a, b) && has_all(b, a)
    }

    /// RFC 4517 distinguishedNameMatch (nats `DN.Equal`): same RDNs in the same order.
    pub fn equal(&self, other: &Dn) -> bool {
        self.0.len() == other.0.len()
            && self.0.iter().zip(&other.0).all(|(a, b)| Self::rdn_eq(a, b))
    }

    /// nats `DN.RDNsMatch`: every RDN found in the other, in any order.
    pub fn rdns_match(&self, other: &Dn) -> bool {
        self.0.len() == other.0.len()
            && self
                .0
                .iter()
                .all(|a| other.0.iter().any(|b| Self::rdn_eq(a, b)))
    }
}

/// How a certificate matched a user, for the debug log.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MatchedBy {
    Email,
    DnsName,
    Uri,
    DistinguishedName,
    RdnSequence,
    Subject,
}

impl MatchedBy {
    pub fn describe(self) -> &'static str {
        match self {
            MatchedBy::Email => "Using email found in cert for auth",
            MatchedBy::DnsName => "Using SAN found in cert for auth",
            MatchedBy::Uri => "Using URI found in cert for auth",
            MatchedBy::DistinguishedName => "Using DistinguishedNameMatch for auth",
            MatchedBy::RdnSequence => "Using RDNSequence for auth",
            MatchedBy::Subject => "Using certificate subject for auth",
        }
    }
}

/// Finds the user a certificate maps to. `lookup` answers whether a user of that exact
/// name exists (and may connect this way); `candidates` are all such user names, in
/// configuration order, for the distinguished-name comparison.
pub fn map_certificate<'u>(
    names: &CertNames,
    lookup: impl Fn(&str) -> bool,
    candidates: impl Iterator<Item = &'u str> + Clone,
) -> Option<(String, MatchedBy)> {
    if names.is_empty() {
        return None;
    }
    let literal = [
        (&names.emails, MatchedBy::Email),
        (&names.dns_names, MatchedBy::DnsName),
        (&names.uris, MatchedBy::Uri),
    ];
    for (list, how) in literal {
        if let Some(u) = list.iter().find(|u| lookup(u)) {
            return Some((u.clone(), how));
        }
    }
    if let Some(cert_dn) = names.subject_dn() {
        let parsed: Vec<(&str, Dn)> = candidates
            .clone()
            .filter_map(|u| Dn::parse(u).map(|d| (u, d)))
            .collect();
        if let Some((u, _)) = parsed.iter().find(|(_, d)| d.equal(&cert_dn)) {
            return Some((u.to_string(), MatchedBy::DistinguishedName));
        }
        if let Some((u, _)) = parsed.iter().find(|(_, d)| d.rdns_match(&cert_dn)) {
            return Some((u.to_string(), MatchedBy::DistinguishedName));
        }
    }
    let rdn = names.rdn_string();
    let dcs = names.domain_components();
    if !dcs.is_empty() {
        let with_dcs = format!("{rdn},{dcs}");
        if lookup(&with_dcs) {
            return Some((with_dcs, MatchedBy::RdnSequence));
        }
    }
    if lookup(&rdn) {
        return Some((rdn, MatchedBy::Subject));
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    fn names(subject: &[&[(&[u8], &str)]]) -> CertNames {
        CertNames {
            subject: subject
                .iter()
                .map(|rdn| {
                    rdn.iter()
                        .map(|(t, v)| (t.to_vec(), Some(v.to_string())))
                        .collect()
                })
                .collect(),
            ..Default::default()
        }
    }

    #[test]
    fn go_rdn_string_order_and_escaping() {
        let n = names(&[
            &[(OID_DC, "com")],
            &[(OID_DC, "example")],
            &[(OID_C, "US")],
            &[(OID_O, "Acme, Inc.")],
            &[(OID_OU, "eng")],
            &[(OID_OU, "ops")],
            &[(OID_CN, " alice")],
        ]);
        assert_eq!(
            n.rdn_string(),
            r"CN=\ alice,OU=eng+OU=ops,O=Acme\, Inc.,C=US"
        );
        assert_eq!(n.domain_components(), "DC=com,DC=example");
        let dn = n.subject_dn().unwrap();
        assert_eq!(dn.0[0], vec![("CN".to_string(), " alice".to_string())]);
        assert_eq!(dn.0.len(), 7);
    }

    #[test]
    fn parse_dn_like_nats() {
        let d = Dn::parse("CN=alice, O=Acme\\, Inc.,C=US").unwrap();
        assert_eq!(
            d.0,
            vec![
                vec![("CN".into(), "alice".into())],
                vec![("O".into(), "Acme, Inc.".into())],
                vec![("C".into(), "US".into())]
            ]
        );
        let m = Dn::parse("OU=a+OU=b,CN=x").unwrap();
        assert_eq!(m.0[0].len(), 2);
        assert!(Dn::parse("alice").is_none());
        assert!(Dn::parse("alice@example.com").is_none());
        assert!(Dn::parse("CN=#0101").is_none());
        assert!(Dn::parse("CN=a\\4").is_none());
        assert_eq!(Dn::parse("CN=a\\41").unwrap().0[0][0].1, "aA");
    }

    #[test]
    fn dn_equality_and_reordering() {
        let a = Dn::parse("cn=alice,o=acme").unwrap();
        let b = Dn::parse("CN=alice,O=acme").unwrap();
        let c = Dn::parse("O=acme,CN=alice").unwrap();
        let d = Dn::parse("CN=Alice,O=acme").unwrap();
        assert!(a.equal(&b));
        assert!(!a.equal(&c));
        assert!(a.rdns_match(&c));
        assert!(!a.equal(&d), "values are case sensitive");
    }

    #[test]
    fn mapping_order() {
        let mut n = names(&[&[(OID_O, "Acme")], &[(OID_CN, "alice")]]);
        n.emails.push("alice@acme.io".into());
        n.dns_names.push("alice.acme.io".into());
        let users = ["CN=alice,O=Acme", "alice.acme.io", "alice@acme.io"];
        let lookup = |u: &str| users.contains(&u);
        assert_eq!(
            map_certificate(&n, lookup, users.iter().copied()),
            Some(("alice@acme.io".into(), MatchedBy::Email))
        );
        let users = ["O=Acme,CN=alice"];
        assert_eq!(
            map_certificate(&n, |u| users.contains(&u), users.iter().copied()),
            Some(("O=Acme,CN=alice".into(), MatchedBy::DistinguishedName))
        );
        let users = ["bob"];
        assert_eq!(
            map_certificate(&n, |u| users.contains(&u), users.iter().copied()),
            None
        );
    }

    #[test]
    fn der_garbage_is_rejected() {
        assert!(CertNames::from_der(&[]).is_none());
        assert!(CertNames::from_der(&[0x30, 0x84, 0xff, 0xff, 0xff, 0xff]).is_none());
        assert!(CertNames::from_der(&[0x30, 0x03, 0x30, 0x01, 0x00]).is_none());
        for len in 0..64 {
            let junk: Vec<u8> = (0..len).map(|i| (i * 37 % 251) as u8).collect();
            let _ = CertNames::from_der(&junk);
        }
    }
}
