//! Borderless aligned tables (a header row, then one row per item) and label/value listings.

use comfy_table::presets::NOTHING;
use comfy_table::{Attribute, Cell, CellAlignment, Table};

use super::colour;
use crate::views::prelude::*;
use crate::views::state::StateView;

/// Spaces between columns.
const COLUMN_GAP: u16 = 3;

/// A table with `headers`, no borders, and columns separated by a few spaces.
pub fn new(headers: &[&str]) -> Table {
    let mut table = borderless();
    let header = headers.iter().map(|header| {
        let cell = Cell::new(header);
        if colour::enabled() {
            cell.add_attribute(Attribute::Bold)
        } else {
            cell
        }
    });
    table.set_header(header);
    table
}

/// A cell aligned to the right, for numbers.
pub fn number(value: impl ToString) -> Cell {
    Cell::new(value).set_alignment(CellAlignment::Right)
}

/// A cell with a state's display name, coloured by state.
pub fn state(state: &StateView) -> Cell {
    let cell = Cell::new(&state.name);
    match colour::cell_colour(state.colour()) {
        Some(colour) => cell.fg(colour),
        None => cell,
    }
}

/// Writes `table` to stdout, or `empty` instead when it has no rows.
pub fn print(mut table: Table, empty: &str) -> std::io::Result<()> {
    if table.row_count() == 0 {
        return crate::output::write_line(empty);
    }
    space_columns(&mut table);
    for line in table.lines() {
        crate::output::write_line(line.trim_end())?;
    }
    Ok(())
}

/// Writes `rows` as aligned `label   value` lines (the value may span lines).
pub fn print_details(rows: &[(&str, String)]) -> std::io::Result<()> {
    let mut table = borderless();
    for (label, value) in rows {
        table.add_row([Cell::new(label), Cell::new(value)]);
    }
    space_columns(&mut table);
    for line in table.lines() {
        crate::output::write_line(line.trim_end())?;
    }
    Ok(())
}

/// A table without borders, styled only when colours are enabled.
fn borderless() -> Table {
    let mut table = Table::new();
    table.load_style(NOTHING);
    if colour::enabled() {
        table.enforce_styling();
        table.style_text_only();
    } else {
        table.force_no_tty();
    }
    table
}

/// No padding before a column, a gap after each but the last.
fn space_columns(table: &mut Table) {
    let last = table.column_count().saturating_sub(1);
    for (index, column) in table.column_iter_mut().enumerate() {
        let right = if index == last { 0 } else { COLUMN_GAP };
        column.set_padding((0, right));
    }
}
