//! "Did you mean …?" for names the user misspelt.

/// The candidate closest to `name` by edit distance, if it is close enough
/// to be a plausible typo (at most a third of the name's length, min. 1).
pub fn closest<'a>(name: &str, candidates: impl IntoIterator<Item = &'a str>) -> Option<&'a str> {
    let limit = (name.chars().count() / 3).max(1);
    candidates
        .into_iter()
        .map(|candidate| (edit_distance(name, candidate), candidate))
        .filter(|(distance, _)| *distance <= limit)
        .min_by_key(|(distance, _)| *distance)
        .map(|(_, candidate)| candidate)
}

/// Optimal string alignment distance: insertions, deletions, substitutions
/// and swaps of two neighbouring characters (the commonest typo) cost 1.
fn edit_distance(a: &str, b: &str) -> usize {
    strsim::osa_distance(a, b)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn edit_distance_counts_single_edits() {
        assert_eq!(edit_distance("expect", "expect"), 0);
        assert_eq!(edit_distance("expct", "expect"), 1);
        assert_eq!(edit_distance("resons", "reasons"), 1);
        assert_eq!(edit_distance("", "abc"), 3);
        assert_eq!(edit_distance("dve", "dev"), 1);
    }

    #[test]
    fn closest_prefers_the_nearest_candidate() {
        assert_eq!(closest("reasns", ["reasons", "errors"]), Some("reasons"));
        assert_eq!(closest("qqq", ["reasons", "errors"]), None);
    }
}
