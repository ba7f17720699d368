//! Colours for state names, used only when stdout is a terminal and `NO_COLOR` is unset.

use std::io::IsTerminal;
use std::sync::OnceLock;

use orch_core::StateType;
use owo_colors::OwoColorize;

/// The few colours the CLI uses.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Colour {
    /// Success.
    Green,
    /// Failure.
    Red,
    /// In progress.
    Blue,
    /// Stopped on request.
    Grey,
    /// Waiting.
    Yellow,
    /// Overdue.
    Magenta,
}

/// Whether stdout gets colours: it is a terminal and `NO_COLOR` is unset (decided once).
pub fn enabled() -> bool {
    static ENABLED: OnceLock<bool> = OnceLock::new();
    *ENABLED
        .get_or_init(|| std::env::var_os("NO_COLOR").is_none() && std::io::stdout().is_terminal())
}

/// The colour of a state, by its display name first ("Late") and then by its type.
pub fn for_state(state_type: Option<StateType>, name: &str) -> Option<Colour> {
    if name.eq_ignore_ascii_case("late") {
        return Some(Colour::Magenta);
    }
    match state_type? {
        StateType::Completed => Some(Colour::Green),
        StateType::Failed | StateType::Crashed => Some(Colour::Red),
        StateType::Running => Some(Colour::Blue),
        StateType::Cancelling | StateType::Cancelled => Some(Colour::Grey),
        StateType::Scheduled | StateType::Pending => Some(Colour::Yellow),
        StateType::Paused => None,
    }
}

/// `text` in `colour` when colours are enabled, else as it is.
pub fn paint(text: &str, colour: Option<Colour>) -> String {
    match colour.filter(|_| enabled()) {
        None => text.to_owned(),
        Some(Colour::Green) => text.green().to_string(),
        Some(Colour::Red) => text.red().to_string(),
        Some(Colour::Blue) => text.blue().to_string(),
        Some(Colour::Grey) => text.bright_black().to_string(),
        Some(Colour::Yellow) => text.yellow().to_string(),
        Some(Colour::Magenta) => text.magenta().to_string(),
    }
}

/// The table cell colour for `colour`, when colours are enabled.
pub fn cell_colour(colour: Option<Colour>) -> Option<comfy_table::Color> {
    colour.filter(|_| enabled()).map(|colour| match colour {
        Colour::Green => comfy_table::Color::Green,
        Colour::Red => comfy_table::Color::Red,
        Colour::Blue => comfy_table::Color::Blue,
        Colour::Grey => comfy_table::Color::DarkGrey,
        Colour::Yellow => comfy_table::Color::Yellow,
        Colour::Magenta => comfy_table::Color::Magenta,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn late_wins_over_its_scheduled_type() {
        assert_eq!(
            for_state(Some(StateType::Scheduled), "Late"),
            Some(Colour::Magenta)
        );
        assert_eq!(
            for_state(Some(StateType::Scheduled), "Scheduled"),
            Some(Colour::Yellow)
        );
    }

    #[test]
    fn terminal_states_are_green_red_or_grey() {
        assert_eq!(
            for_state(Some(StateType::Completed), "Completed"),
            Some(Colour::Green)
        );
        assert_eq!(
            for_state(Some(StateType::Crashed), "Crashed"),
            Some(Colour::Red)
        );
        assert_eq!(
            for_state(Some(StateType::Cancelled), "Cancelled"),
            Some(Colour::Grey)
        );
        assert_eq!(for_state(None, "Mystery"), None);
    }
}
