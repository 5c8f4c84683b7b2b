//! Value types of the configuration file: durations (`90s`, `15m`), rates (`10/min`), one-or-many
//! lists. Each parses from a string and says what it expected when it cannot.

use serde::{de, Deserialize, Deserializer, Serialize, Serializer};
use std::fmt;
use std::time::Duration;

/// A duration written as `<number><unit>` with unit `ms`, `s`, `m`, `h` or `d`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Dur(pub Duration);

impl Dur {
    pub fn parse(s: &str) -> Result<Dur, String> {
        let s = s.trim();
        let split = s
            .find(|c: char| !c.is_ascii_digit())
            .ok_or_else(|| format!("`{s}` has no unit: write e.g. `90s`, `15m`, `12h` or `30d`"))?;
        let (num, unit) = s.split_at(split);
        let n: u64 = num.parse().map_err(|_| format!("`{s}` is not a duration: write e.g. `90s`, `15m`, `12h`"))?;
        let secs = match unit {
            "ms" => return Ok(Dur(Duration::from_millis(n))),
            "s" => n,
            "m" => n.saturating_mul(60),
            "h" => n.saturating_mul(3600),
            "d" => n.saturating_mul(86_400),
            _ => return Err(format!("`{s}`: unknown unit `{unit}`; use ms, s, m, h or d")),
        };
        Ok(Dur(Duration::from_secs(secs)))
    }
}

impl<'de> Deserialize<'de> for Dur {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = String::deserialize(d)?;
        Dur::parse(&s).map_err(de::Error::custom)
    }
}

/// Written back as the file would say it: the largest unit that divides it (`15m`, `90s`).
impl fmt::Display for Dur {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let ms = self.0.as_millis();
        if !ms.is_multiple_of(1000) {
            return write!(f, "{ms}ms");
        }
        let secs = self.0.as_secs();
        let unit =
            [(86_400, "d"), (3600, "h"), (60, "m")].into_iter().find(|(n, _)| secs != 0 && secs.is_multiple_of(*n));
        match unit {
            Some((n, u)) => write!(f, "{}{u}", secs / n),
            None => write!(f, "{secs}s"),
        }
    }
}

impl Serialize for Dur {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

/// A rate written as `<count>/<period>`: `200/s`, `10/min`, `3/10m`, `1000/h`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Rate {
    pub count: u32,
    pub period: Duration,
}

impl Rate {
    pub fn parse(s: &str) -> Result<Rate, String> {
        let bad = || format!("`{s}` is not a rate: write `<count>/<period>`, e.g. `10/min`, `200/s`, `3/10m`");
        let (count, period) = s.trim().split_once('/').ok_or_else(bad)?;
        let count: u32 = count.trim().parse().map_err(|_| bad())?;
        if count == 0 {
            return Err(format!("`{s}`: a rate needs a count of at least 1"));
        }
        let period = period.trim();
        let word = match period {
            "s" | "sec" | "second" => Some(1),
            "min" | "minute" | "m" => Some(60),
            "h" | "hour" => Some(3600),
            "d" | "day" => Some(86_400),
            _ => None,
        };
        let period = match word {
            Some(secs) => Duration::from_secs(secs),
            None => Dur::parse(period).map_err(|_| bad())?.0,
        };
        if period.is_zero() {
            return Err(format!("`{s}`: the period must be longer than zero"));
        }
        Ok(Rate { count, period })
    }

    /// Time between two replenished tokens.
    pub fn interval(&self) -> Duration {
        self.period / self.count
    }
}

impl<'de> Deserialize<'de> for Rate {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = String::deserialize(d)?;
        Rate::parse(&s).map_err(de::Error::custom)
    }
}

impl fmt::Display for Rate {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}s", self.count, self.period.as_secs_f64())
    }
}

impl Serialize for Rate {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(&format_args!("{}/{}", self.count, Dur(self.period)))
    }
}

/// A value that may be written as one item or as a list of items.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct OneOrMany<T>(pub Vec<T>);

impl<T: Serialize> Serialize for OneOrMany<T> {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        self.0.serialize(s)
    }
}

impl<'de, T: Deserialize<'de>> Deserialize<'de> for OneOrMany<T> {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        #[derive(Deserialize)]
        #[serde(untagged)]
        enum Either<T> {
            Many(Vec<T>),
            One(T),
        }
        Ok(match Either::deserialize(d)? {
            Either::Many(v) => OneOrMany(v),
            Either::One(v) => OneOrMany(vec![v]),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations() {
        assert_eq!(Dur::parse("90s").unwrap().0, Duration::from_secs(90));
        assert_eq!(Dur::parse("15m").unwrap().0, Duration::from_secs(900));
        assert_eq!(Dur::parse("12h").unwrap().0, Duration::from_secs(43_200));
        assert_eq!(Dur::parse("30d").unwrap().0, Duration::from_secs(2_592_000));
        assert_eq!(Dur::parse("250ms").unwrap().0, Duration::from_millis(250));
        assert!(Dur::parse("15").unwrap_err().contains("no unit"));
        assert!(Dur::parse("15y").unwrap_err().contains("unknown unit"));
        assert!(Dur::parse("m").is_err());
    }

    /// What the effective configuration shows is what the file would say, and parses back.
    #[test]
    fn durations_and_rates_write_back() {
        for (text, shown) in [("90s", "90s"), ("900s", "15m"), ("36h", "36h"), ("30d", "30d"), ("250ms", "250ms")] {
            let d = Dur::parse(text).unwrap();
            assert_eq!(d.to_string(), shown);
            assert_eq!(Dur::parse(shown).unwrap(), d);
        }
        assert_eq!(serde_json::to_value(Rate::parse("3/10m").unwrap()).unwrap(), "3/10m");
        assert_eq!(Rate::parse("10/1m").unwrap(), Rate::parse("10/min").unwrap());
    }

    #[test]
    fn rates() {
        let r = Rate::parse("10/min").unwrap();
        assert_eq!((r.count, r.period), (10, Duration::from_secs(60)));
        let r = Rate::parse("3/10m").unwrap();
        assert_eq!((r.count, r.period), (3, Duration::from_secs(600)));
        assert_eq!(Rate::parse("200/s").unwrap().interval(), Duration::from_millis(5));
        assert!(Rate::parse("0/s").is_err());
        assert!(Rate::parse("ten/s").is_err());
        assert!(Rate::parse("10").is_err());
        assert!(Rate::parse("10/0s").is_err());
    }
}
