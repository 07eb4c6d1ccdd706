//! Reading YAML (test suites, links) with positions and bounded resources.
//!
//! Every YAML file goes through [`parse`], so every one gets the same budget
//! (an alias bomb is refused after a bounded amount of work) and the same
//! error shape: file, line, column, and for a misspelt key the closest valid
//! one.

use serde::de::DeserializeOwned;

use crate::error::Error;
use crate::source::{Location, SourceFile};

/// Converts a YAML position (line and column from 1) to a [`Location`].
pub fn location(file: &SourceFile, at: &serde_saphyr::Location) -> Location {
    let line = usize::try_from(at.line()).unwrap_or(usize::MAX);
    let column = usize::try_from(at.column()).unwrap_or(usize::MAX);
    if line == 0 {
        return file.location(0..0);
    }
    let offset = file.offset_of(line, column);
    file.location(offset..offset)
}

pub fn parse<T: DeserializeOwned>(file: &SourceFile) -> Result<T, Error> {
    let options = serde_saphyr::options! {
        budget: serde_saphyr::budget! {
            // Suites with hundreds of thousands of cases are legitimate;
            // the budget is there for alias expansion, which the defaults
            // of `max_aliases` and `max_recorded_anchor_events` bound.
            max_events: 200_000_000,
            max_nodes: 50_000_000,
            max_total_scalar_bytes: 256 * 1024 * 1024,
            // Anchors replayed through aliases: far above what a hand-written
            // suite uses, far below what a "billion laughs" needs.
            max_recorded_anchor_events: 100_000,
            max_aliases: 10_000,
        },
    };
    serde_saphyr::from_str_with_options::<T>(file.text(), options)
        .map_err(|err| syntax_error(file, &err))
}

fn syntax_error(file: &SourceFile, err: &serde_saphyr::Error) -> Error {
    let location = err
        .location()
        .map_or_else(|| file.location(0..0), |at| location(file, &at));
    let message = first_line(&err.to_string());
    let help = unknown_field_suggestion(&message).or_else(|| {
        message.contains("budget breached").then(|| {
            "the YAML expands anchors and aliases beyond avpctl's limits (a \"billion laughs\"?); write the values out instead".to_string()
        })
    });
    Error::Syntax {
        message,
        location,
        help,
    }
}

/// serde-saphyr renders a snippet below its message and puts the position
/// in it; reports draw both themselves.
fn first_line(message: &str) -> String {
    let line = message.lines().next().unwrap_or(message).trim();
    let line = line.strip_prefix("error: ").unwrap_or(line);
    let line = match line.strip_prefix("line ") {
        Some(rest) => rest.split_once(": ").map_or(line, |(_, message)| message),
        None => line,
    };
    match line.rfind(" at line ") {
        Some(cut) => line[..cut].to_string(),
        None => line.to_string(),
    }
}

/// For serde's "unknown field `x`, expected one of `a`, `b`" message, the
/// closest expected field, so a typo gets a one-glance fix.
pub fn unknown_field_suggestion(message: &str) -> Option<String> {
    let rest = message.split("unknown field `").nth(1)?;
    let (unknown, rest) = rest.split_once('`')?;
    let list = rest.split_once("expected").map_or("", |(_, list)| list);
    let list = list.trim_start().strip_prefix("one of").unwrap_or(list);
    let expected: Vec<&str> = list
        .split([',', ' '])
        .map(|word| word.trim_matches(|c: char| c == '`' || c.is_whitespace()))
        .filter(|word| !word.is_empty() && *word != "or")
        .collect();
    let closest = crate::suggest::closest(unknown, expected.iter().copied())?;
    Some(format!("did you mean `{closest}`?"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn suggests_the_closest_expected_field() {
        let message = "unknown field `expct`, expected one of `name`, `expect`, `reasons`";
        assert_eq!(
            unknown_field_suggestion(message).as_deref(),
            Some("did you mean `expect`?")
        );
    }

    #[test]
    fn suggests_from_an_unquoted_list_too() {
        let message = "unknown field `expcet`, expected one of name, principal, expect, reasons";
        assert_eq!(
            unknown_field_suggestion(message).as_deref(),
            Some("did you mean `expect`?")
        );
    }

    #[test]
    fn the_position_prefix_is_dropped() {
        assert_eq!(
            first_line("error: line 5 column 6: did not find key\n  snippet"),
            "did not find key"
        );
    }

    #[test]
    fn no_suggestion_for_a_far_name() {
        let message = "unknown field `zzzzzzzz`, expected `name` or `expect`";
        assert_eq!(unknown_field_suggestion(message), None);
    }
}
