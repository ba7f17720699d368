//! How a time window splits over hourly roll-ups: the whole hours inside it,
//! read from totals kept per hour, and the two partial hours at its edges,
//! read run by run. Times are microseconds since 1970 (either sign); the
//! window `[since, until]` includes both ends, as the overview's does.

/// Microseconds in an hour: the roll-ups' bucket width.
pub const HOUR_MICROS: i64 = 3_600_000_000;

/// The hour (bucket) of a time: `floor(micros / HOUR_MICROS)`, also before
/// 1970 (the migrations compute the same).
pub fn hour_of(micros: i64) -> i64 {
    micros.div_euclid(HOUR_MICROS)
}

/// A window as whole hours plus the runs' own ranges at its edges.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct HourSplit {
    /// First and last whole hour inside the window (`first > last`: none).
    pub hours: (i64, i64),
    /// The range before the first whole hour, both ends included (`start > end`: empty).
    pub head: (i64, i64),
    /// The range after the last whole hour, both ends included (`start > end`: empty).
    pub tail: (i64, i64),
}

/// An empty range, as `(start, end)` with `start > end`.
const EMPTY: (i64, i64) = (1, 0);

impl HourSplit {
    /// Splits `[since, until]`. Every time of the window is in exactly one of
    /// the whole hours, the head or the tail; a window of no whole hour is
    /// all head. An empty window (`since > until`) is empty in all three.
    pub fn of(since: i64, until: i64) -> HourSplit {
        if since > until {
            return HourSplit {
                hours: EMPTY,
                head: EMPTY,
                tail: EMPTY,
            };
        }
        let hour = i128::from(HOUR_MICROS);
        // First hour starting at or after `since`; last hour ending at or before `until`.
        let first = (i128::from(since) + hour - 1).div_euclid(hour);
        let last = (i128::from(until) + 1).div_euclid(hour) - 1;
        if first > last {
            return HourSplit {
                hours: EMPTY,
                head: (since, until),
                tail: EMPTY,
            };
        }
        // Both hours lie inside [since, until], so their bounds fit an i64.
        let narrow = |value: i128| i64::try_from(value).expect("inside the window");
        let head_end = narrow(first * hour - 1);
        let tail_start = narrow((last + 1) * hour);
        HourSplit {
            hours: (narrow(first), narrow(last)),
            head: if head_end < since {
                EMPTY
            } else {
                (since, head_end)
            },
            tail: if tail_start > until {
                EMPTY
            } else {
                (tail_start, until)
            },
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const H: i64 = HOUR_MICROS;

    /// Every time's part, by the split, against where it should be.
    fn assert_covers(since: i64, until: i64) {
        let split = HourSplit::of(since, until);
        let inside = |(a, b): (i64, i64), t: i64| a <= t && t <= b;
        let (since_wide, until_wide) = (i128::from(since), i128::from(until));
        let first_hour = i128::from(hour_of(since));
        let last_hour = i128::from(hour_of(until)).min(first_hour + 4);
        let hour = i128::from(H);
        let probes: Vec<i64> = [since_wide - 1, since_wide, since_wide + 1]
            .into_iter()
            .chain([until_wide - 1, until_wide, until_wide + 1])
            .chain(
                (first_hour..=last_hour)
                    .flat_map(|h| [h * hour - 1, h * hour, h * hour + 1, (h + 1) * hour - 1]),
            )
            .filter_map(|t| i64::try_from(t).ok())
            .collect();
        for t in probes {
            let in_hours = split.hours.0 <= hour_of(t) && hour_of(t) <= split.hours.1;
            let parts = [in_hours, inside(split.head, t), inside(split.tail, t)];
            let expected = usize::from(since <= t && t <= until);
            assert_eq!(
                parts.iter().filter(|p| **p).count(),
                expected,
                "{t} in [{since}, {until}]: {split:?}"
            );
        }
    }

    #[test]
    fn hours_are_floored_on_both_sides_of_1970() {
        assert_eq!(hour_of(0), 0);
        assert_eq!(hour_of(H - 1), 0);
        assert_eq!(hour_of(H), 1);
        assert_eq!(hour_of(-1), -1);
        assert_eq!(hour_of(-H), -1);
        assert_eq!(hour_of(-H - 1), -2);
    }

    #[test]
    fn an_aligned_window_is_whole_hours_only() {
        let split = HourSplit::of(10 * H, 13 * H - 1);
        assert_eq!(split.hours, (10, 12));
        assert!(split.head.0 > split.head.1 && split.tail.0 > split.tail.1);
    }

    #[test]
    fn an_unaligned_window_has_a_head_and_a_tail() {
        let split = HourSplit::of(10 * H + 5, 13 * H + 7);
        assert_eq!(split.hours, (11, 12));
        assert_eq!(split.head, (10 * H + 5, 11 * H - 1));
        assert_eq!(split.tail, (13 * H, 13 * H + 7));
        // The inclusive end on an hour's start takes that one instant by run.
        assert_eq!(HourSplit::of(10 * H, 13 * H).tail, (13 * H, 13 * H));
    }

    #[test]
    fn a_window_within_an_hour_or_two_is_read_by_run() {
        let split = HourSplit::of(10 * H + 5, 11 * H + 7);
        assert!(split.hours.0 > split.hours.1);
        assert_eq!(split.head, (10 * H + 5, 11 * H + 7));
        let empty = HourSplit::of(5, 4);
        assert!(empty.hours.0 > empty.hours.1 && empty.head.0 > empty.head.1);
    }

    #[test]
    fn every_instant_is_in_one_part_whatever_the_window() {
        for (since, until) in [
            (0, 0),
            (-H - 3, H + 3),
            (-2 * H, -1),
            (7 * H - 1, 9 * H),
            (7 * H + 1, 7 * H + 2),
            (i64::MIN, i64::MIN + 3 * H),
            (i64::MAX - 3 * H, i64::MAX),
        ] {
            assert_covers(since, until);
        }
        let all = HourSplit::of(i64::MIN, i64::MAX);
        assert_eq!(all.hours, (hour_of(i64::MIN) + 1, hour_of(i64::MAX) - 1));
    }
}
