//! `--key value` / `--key=value` option parsing. The bench has a handful of options, so a
//! parser dependency (and its build time on a 2-core machine) is not worth it.

use std::collections::BTreeMap;
use std::str::FromStr;

/// Parsed options; getters remove what they read so `finish` can reject unknown keys.
pub struct Opts {
    map: BTreeMap<String, String>,
}

impl Opts {
    /// Parses `args`; `--help` / `-h` is stored as the key `help` with an empty value.
    pub fn parse(args: &[String]) -> Result<Opts, String> {
        let mut map = BTreeMap::new();
        let mut it = args.iter();
        while let Some(arg) = it.next() {
            if arg == "-h" || arg == "--help" {
                map.insert("help".to_string(), String::new());
                continue;
            }
            let Some(key) = arg.strip_prefix("--") else {
                return Err(format!("unexpected argument `{arg}`"));
            };
            let (key, value) = match key.split_once('=') {
                Some((k, v)) => (k.to_string(), v.to_string()),
                None => {
                    let v = it.next().ok_or_else(|| format!("--{key} needs a value"))?;
                    (key.to_string(), v.clone())
                }
            };
            if map.insert(key.clone(), value).is_some() {
                return Err(format!("--{key} given twice"));
            }
        }
        Ok(Opts { map })
    }

    /// True if `--help` was given.
    pub fn help(&mut self) -> bool {
        self.map.remove("help").is_some()
    }

    /// The raw value of `--key`, if given.
    pub fn string(&mut self, key: &str) -> Option<String> {
        self.map.remove(key)
    }

    /// The value of `--key` parsed as `T`, or `default`.
    pub fn get<T: FromStr>(&mut self, key: &str, default: T) -> Result<T, String> {
        match self.map.remove(key) {
            None => Ok(default),
            Some(v) => v
                .parse()
                .map_err(|_| format!("--{key}: cannot parse `{v}`")),
        }
    }

    /// Fails if any option was not consumed (a typo must not silently run the defaults).
    pub fn finish(self) -> Result<(), String> {
        match self.map.keys().next() {
            None => Ok(()),
            Some(k) => Err(format!("unknown option --{k}")),
        }
    }
}
