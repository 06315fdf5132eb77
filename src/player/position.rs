//! Positions as people write them: `m:ss` or `h:mm:ss` out, `754.2`, `12:34` or `1:02:03` in.
//! Shared by `playmark play --start`, `playmark progress` and the CLI's listings.

/// `m:ss` or `h:mm:ss` (a negative position reads as 0:00).
pub fn format(ms: i64) -> String {
    let s = ms.max(0) / 1000;
    if s >= 3600 {
        format!("{}:{:02}:{:02}", s / 3600, (s / 60) % 60, s % 60)
    } else {
        format!("{}:{:02}", s / 60, s % 60)
    }
}

/// Parse `754.2`, `12:34` or `1:02:03` into milliseconds.
pub fn parse(input: &str) -> Result<i64, String> {
    let input = input.trim();
    let bad = || format!("'{input}' is not a position: use seconds (754.2) or H:MM:SS / MM:SS");
    if input.starts_with('-') {
        return Err(format!("'{input}' is negative: a position is 0 or more"));
    }
    let parts: Vec<&str> = input.split(':').collect();
    if parts.len() > 3 || parts.iter().any(|p| p.is_empty()) {
        return Err(bad());
    }
    let mut seconds = 0.0_f64;
    for (i, part) in parts.iter().enumerate() {
        let v: f64 = part.parse().map_err(|_| bad())?;
        if !v.is_finite() || v < 0.0 {
            return Err(bad());
        }
        let last = i == parts.len() - 1;
        if !last && v.fract() != 0.0 {
            return Err(bad());
        }
        if i > 0 && v >= 60.0 {
            return Err(bad());
        }
        seconds = seconds * 60.0 + v;
    }
    // 100 years is absurd for a media position.
    if seconds > 3.2e9 {
        return Err(format!("'{input}' is not a plausible position"));
    }
    Ok((seconds * 1000.0).round() as i64)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn positions_parse() {
        assert_eq!(parse("754.2"), Ok(754_200));
        assert_eq!(parse("12:34"), Ok(754_000));
        assert_eq!(parse("1:02:03"), Ok(3_723_000));
        assert!(parse("-5").is_err());
        assert!(parse("1:75").is_err());
        assert!(parse("abc").is_err());
        assert!(parse("1::2").is_err());
        assert!(parse("NaN").is_err());
        assert!(parse("1e12").is_err());
    }

    #[test]
    fn positions_format() {
        assert_eq!(format(0), "0:00");
        assert_eq!(format(-5), "0:00");
        assert_eq!(format(754_900), "12:34");
        assert_eq!(format(3_723_000), "1:02:03");
    }
}
