//! Deployment and schedule `parameters` tables, as JSON objects.

use serde_json::{Map, Number, Value};
use toml::Spanned;

use super::source::{Source, toml_kind};
use crate::error::Result;

/// A `parameters` table as a JSON object; an absent table is empty.
pub(super) fn parameters(
    source: &Source<'_>,
    value: Option<Spanned<toml::Value>>,
) -> Result<Map<String, Value>> {
    let Some(value) = value else {
        return Ok(Map::new());
    };
    let offset = value.span().start;
    match value.into_inner() {
        toml::Value::Table(table) => table_to_json("parameters", table)
            .and_then(|json| {
                let size = Value::Object(json.clone()).to_string().len();
                crate::limits::check_parameters_size("`parameters`", size)
                    .map(|()| json)
                    .map_err(|error| error.to_string())
            })
            .map_err(|message| source.error(Some(offset), message)),
        other => Err(source.error(
            Some(offset),
            format!(
                "`parameters` must be a table, e.g. parameters = {{ force = false }}, not {}",
                toml_kind(&other)
            ),
        )),
    }
}

fn table_to_json(
    path: &str,
    table: toml::Table,
) -> std::result::Result<Map<String, Value>, String> {
    table
        .into_iter()
        .map(|(key, value)| {
            let json = to_json(&format!("{path}.{key}"), value)?;
            Ok((key, json))
        })
        .collect()
}

/// Converts a TOML value to JSON; date-times become strings as written.
/// Fails, naming the key, for floats JSON cannot hold (nan, inf).
fn to_json(path: &str, value: toml::Value) -> std::result::Result<Value, String> {
    Ok(match value {
        toml::Value::String(s) => Value::String(s),
        toml::Value::Integer(i) => Value::Number(i.into()),
        toml::Value::Float(f) => Value::Number(Number::from_f64(f).ok_or_else(|| {
            format!("`{path}` is {f}, which JSON cannot represent; use a finite number")
        })?),
        toml::Value::Boolean(b) => Value::Bool(b),
        toml::Value::Datetime(dt) => Value::String(dt.to_string()),
        toml::Value::Array(items) => Value::Array(
            items
                .into_iter()
                .enumerate()
                .map(|(i, item)| to_json(&format!("{path}[{i}]"), item))
                .collect::<std::result::Result<_, _>>()?,
        ),
        toml::Value::Table(table) => Value::Object(table_to_json(path, table)?),
    })
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use crate::deploy_file::parse_deploy_file;
    use crate::deploy_file::test_support::{deployment, error, schedule};

    #[test]
    fn parameters_must_be_a_table() {
        assert_eq!(
            error(&deployment("parameters = 5\n")),
            (
                6,
                14,
                "`parameters` must be a table, e.g. parameters = { force = false }, not an integer"
                    .into()
            )
        );
        let (line, _, message) = error(&schedule("cron = \"* * * * *\"\nparameters = [1]\n"));
        assert_eq!(line, 8);
        assert!(
            message.starts_with("`parameters` must be a table"),
            "{message}"
        );
    }

    #[test]
    fn parameters_keep_every_toml_type() {
        let text = deployment(
            "parameters = { s = \"x\", i = 1, f = 0.5, b = true, d = 2026-01-02, a = [1, \"y\"], t = { u = {} } }\n",
        );
        let specs = parse_deploy_file("f.toml", &text).unwrap();
        assert_eq!(
            serde_json::Value::Object(specs[0].parameters.clone()),
            json!({"s": "x", "i": 1, "f": 0.5, "b": true, "d": "2026-01-02", "a": [1, "y"], "t": {"u": {}}})
        );
    }

    #[test]
    fn parameters_json_cannot_hold_are_refused() {
        let (line, _, message) = error(&deployment(
            "parameters = { cfg = { limits = [1.0, nan] } }\n",
        ));
        assert_eq!(line, 6);
        assert_eq!(
            message,
            "`parameters.cfg.limits[1]` is NaN, which JSON cannot represent; use a finite number"
        );
    }
}
