//! Reading variables from any source: a value or its documented default, every refusal kept
//! (with its cause) so `ConfigError` reports all bad variables at once.

use super::vars::EnvVar;
use std::error::Error;
use std::fmt;

type Cause = Box<dyn Error + Send + Sync>;

/// One refused variable: its name, why, and the value when it is not secret (variables with a
/// default show what they got).
#[derive(Debug)]
pub struct Problem {
    var: &'static str,
    got: Option<String>,
    why: Cause,
}

impl Problem {
    pub fn new(var: &EnvVar, why: impl Into<Cause>) -> Problem {
        Problem { var: var.name, got: None, why: why.into() }
    }

    /// The variable refused.
    pub fn var(&self) -> &'static str {
        self.var
    }
}

impl fmt::Display for Problem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}", self.var, self.why)?;
        match &self.got {
            Some(raw) => write!(f, " (got {raw:?})"),
            None => Ok(()),
        }
    }
}

impl Error for Problem {
    fn source(&self) -> Option<&(dyn Error + 'static)> {
        Some(&*self.why)
    }
}

/// Every bad variable found, reported together.
#[derive(Debug)]
pub struct ConfigError(Vec<Problem>);

impl ConfigError {
    pub fn problems(&self) -> &[Problem] {
        &self.0
    }
}

impl From<Problem> for ConfigError {
    fn from(problem: Problem) -> ConfigError {
        ConfigError(vec![problem])
    }
}

impl fmt::Display for ConfigError {
    /// One problem on one line; several as a count, then one line each.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.0.as_slice() {
            [only] => write!(f, "invalid configuration: {only}"),
            problems => {
                write!(f, "invalid configuration ({} problems):", problems.len())?;
                problems.iter().try_for_each(|problem| write!(f, "\n  - {problem}"))
            }
        }
    }
}

impl Error for ConfigError {}

/// Reads variables through `lookup`, collecting problems.
pub struct Reader<'a> {
    lookup: &'a dyn Fn(&str) -> Option<String>,
    problems: Vec<Problem>,
}

impl<'a> Reader<'a> {
    pub fn new(lookup: &'a dyn Fn(&str) -> Option<String>) -> Self {
        Reader { lookup, problems: Vec::new() }
    }

    /// The raw value; empty strings count as unset.
    pub fn text(&self, var: &EnvVar) -> Option<String> {
        (self.lookup)(var.name).map(|v| v.trim().to_owned()).filter(|v| !v.is_empty())
    }

    /// The value, else the documented default, parsed. A refused value is recorded and the
    /// default stands in for it, so the variables read after it are still checked.
    pub fn value<T, E: Into<Cause>>(&mut self, var: &EnvVar, parse: impl Fn(&str) -> Result<T, E>) -> T {
        if let Some(raw) = self.text(var) {
            match parse(&raw) {
                Ok(value) => return value,
                Err(why) => self.problems.push(Problem { var: var.name, got: Some(raw), why: why.into() }),
            }
        }
        parse(var.default).unwrap_or_else(|_| panic!("the default of {} does not parse", var.name))
    }

    /// A variable unset by default: `None` when unset, or when refused (recorded).
    pub fn optional<T, E: Into<Cause>>(&mut self, var: &EnvVar, parse: impl Fn(&str) -> Result<T, E>) -> Option<T> {
        let parsed = parse(&self.text(var)?);
        parsed.map_err(|why| self.refuse(var, why)).ok()
    }

    /// Records a problem found by a check across variables.
    pub fn refuse(&mut self, var: &EnvVar, why: impl Into<Cause>) {
        self.problems.push(Problem::new(var, why));
    }

    /// `value`, unless a problem was found.
    pub fn finish<T>(self, value: T) -> Result<T, ConfigError> {
        if self.problems.is_empty() {
            Ok(value)
        } else {
            Err(ConfigError(self.problems))
        }
    }
}
