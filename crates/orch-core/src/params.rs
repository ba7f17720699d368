//! Run parameters from the command line: `--param KEY=VALUE` and
//! `--params JSON`, and merging them over a deployment's defaults.

use serde_json::{Map, Value};

use crate::error::{Error, Result};

/// Parses one `--param KEY=VALUE`: split on the FIRST '='; the value is parsed as JSON, and taken as a plain string when it is not valid JSON.
///
/// `force=true` -> Bool, `n=5` -> Number, `day=2024-01-01` -> String,
/// `a=b=c` -> ("a", "b=c"), `k=` -> ("k", ""), `name="x y"` -> "x y",
/// `cfg={"a":{"b":1}}` -> nested object.
///
/// # Errors
///
/// [`Error::InvalidParam`] when there is no `=`, the key is empty, or the key
/// contains whitespace.
pub fn parse_param(arg: &str) -> Result<(String, Value)> {
    let invalid = |reason: &str| Error::InvalidParam {
        arg: arg.to_owned(),
        reason: reason.to_owned(),
    };
    let (key, raw) = arg
        .split_once('=')
        .ok_or_else(|| invalid("there is no '=' between the key and the value"))?;
    if key.is_empty() {
        return Err(invalid("the key before '=' is empty"));
    }
    if key.chars().any(char::is_whitespace) {
        return Err(invalid("the key contains whitespace"));
    }
    let value = serde_json::from_str(raw).unwrap_or_else(|_| Value::String(raw.to_owned()));
    Ok((key.to_owned(), value))
}

/// Builds a run's parameter overrides: the `--params` JSON object (must be an object) first, then each `--param` on top (last wins).
///
/// # Errors
///
/// [`Error::InvalidParams`] when `params_json` is not JSON or not a JSON
/// object, and [`Error::InvalidParam`] for the first malformed `--param`.
pub fn build_overrides(params_json: Option<&str>, params: &[String]) -> Result<Map<String, Value>> {
    let mut overrides = match params_json {
        None => Map::new(),
        Some(text) => parse_params_object(text)?,
    };
    for arg in params {
        let (key, value) = parse_param(arg)?;
        overrides.insert(key, value);
    }
    Ok(overrides)
}

fn parse_params_object(text: &str) -> Result<Map<String, Value>> {
    let value: Value = serde_json::from_str(text).map_err(|err| Error::InvalidParams {
        reason: format!("it is not valid JSON ({err})"),
    })?;
    match value {
        Value::Object(map) => Ok(map),
        other => Err(Error::InvalidParams {
            reason: format!("it is {}, not an object", json_kind(&other)),
        }),
    }
}

/// The kind of a JSON value with its article, for messages.
fn json_kind(value: &Value) -> &'static str {
    match value {
        Value::Null => "null",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Array(_) => "an array",
        Value::Object(_) => "an object",
    }
}

/// Shallow-merges `overrides` over `defaults` (top-level keys of overrides win).
pub fn merge_parameters(
    defaults: &Map<String, Value>,
    overrides: &Map<String, Value>,
) -> Map<String, Value> {
    let mut merged = defaults.clone();
    merged.extend(overrides.iter().map(|(k, v)| (k.clone(), v.clone())));
    merged
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    fn param(arg: &str) -> (String, Value) {
        parse_param(arg).unwrap_or_else(|err| panic!("{arg}: {err}"))
    }

    fn object(value: Value) -> Map<String, Value> {
        match value {
            Value::Object(map) => map,
            other => panic!("not an object: {other}"),
        }
    }

    fn strings(args: &[&str]) -> Vec<String> {
        args.iter().map(|s| s.to_string()).collect()
    }

    #[test]
    fn values_are_parsed_as_json() {
        assert_eq!(param("force=true"), ("force".into(), json!(true)));
        assert_eq!(param("n=5"), ("n".into(), json!(5)));
        assert_eq!(param("ratio=0.25"), ("ratio".into(), json!(0.25)));
        assert_eq!(param("nothing=null"), ("nothing".into(), Value::Null));
        assert_eq!(param("ids=[1,2,3]"), ("ids".into(), json!([1, 2, 3])));
    }

    #[test]
    fn values_that_are_not_json_are_plain_strings() {
        assert_eq!(param("day=2024-01-01"), ("day".into(), json!("2024-01-01")));
        assert_eq!(param("mode=fast"), ("mode".into(), json!("fast")));
        assert_eq!(param("cfg={broken"), ("cfg".into(), json!("{broken")));
    }

    #[test]
    fn splits_on_the_first_equals_sign() {
        assert_eq!(param("a=b=c"), ("a".into(), json!("b=c")));
    }

    #[test]
    fn an_empty_value_is_an_empty_string() {
        assert_eq!(param("k="), ("k".into(), json!("")));
    }

    #[test]
    fn a_quoted_json_string_is_unquoted() {
        assert_eq!(param("name=\"x y\""), ("name".into(), json!("x y")));
        assert_eq!(param("n=\"5\""), ("n".into(), json!("5")));
    }

    #[test]
    fn nested_objects_are_kept_whole() {
        assert_eq!(
            param(r#"cfg={"a":{"b":1},"list":[true,null]}"#),
            ("cfg".into(), json!({"a": {"b": 1}, "list": [true, null]}))
        );
    }

    #[test]
    fn malformed_params_are_refused_with_the_reason() {
        let reason = |arg: &str| match parse_param(arg) {
            Err(Error::InvalidParam { arg: got, reason }) => {
                assert_eq!(got, arg);
                reason
            }
            other => panic!("{arg}: expected InvalidParam, got {other:?}"),
        };
        assert_eq!(
            reason("force"),
            "there is no '=' between the key and the value"
        );
        assert_eq!(reason("=true"), "the key before '=' is empty");
        assert_eq!(reason("my key=1"), "the key contains whitespace");
        assert_eq!(reason(" force=true"), "the key contains whitespace");
    }

    #[test]
    fn overrides_start_from_the_params_object() {
        let overrides = build_overrides(Some(r#"{"a": 1, "b": {"c": [1]}}"#), &[]).unwrap();
        assert_eq!(overrides, object(json!({"a": 1, "b": {"c": [1]}})));
    }

    #[test]
    fn param_overrides_params() {
        let overrides = build_overrides(
            Some(r#"{"force": false, "n": 1}"#),
            &strings(&["force=true"]),
        )
        .unwrap();
        assert_eq!(overrides, object(json!({"force": true, "n": 1})));
    }

    #[test]
    fn the_last_param_wins() {
        let overrides = build_overrides(None, &strings(&["n=1", "m=x", "n=2"])).unwrap();
        assert_eq!(overrides, object(json!({"n": 2, "m": "x"})));
    }

    #[test]
    fn no_arguments_give_no_overrides() {
        assert_eq!(build_overrides(None, &[]).unwrap(), Map::new());
    }

    #[test]
    fn params_that_are_not_json_are_refused() {
        let Err(Error::InvalidParams { reason }) = build_overrides(Some("{force: true}"), &[])
        else {
            panic!("expected InvalidParams");
        };
        assert!(
            reason.starts_with("it is not valid JSON (key must be a string"),
            "{reason}"
        );
        assert!(reason.contains("line 1 column 2"), "{reason}");
    }

    #[test]
    fn params_that_are_not_an_object_are_refused() {
        for (text, kind) in [("[1, 2]", "an array"), ("5", "a number"), ("null", "null")] {
            assert_eq!(
                build_overrides(Some(text), &[]),
                Err(Error::InvalidParams {
                    reason: format!("it is {kind}, not an object"),
                })
            );
        }
    }

    #[test]
    fn a_bad_param_is_reported_even_after_good_params() {
        let result = build_overrides(Some("{}"), &strings(&["ok=1", "broken"]));
        assert!(matches!(result, Err(Error::InvalidParam { arg, .. }) if arg == "broken"));
    }

    #[test]
    fn merging_is_shallow_and_overrides_win() {
        let defaults = object(json!({"force": false, "cfg": {"a": 1, "b": 2}, "keep": "me"}));
        let overrides = object(json!({"force": true, "cfg": {"a": 9}, "new": [1]}));
        assert_eq!(
            merge_parameters(&defaults, &overrides),
            object(json!({"force": true, "cfg": {"a": 9}, "keep": "me", "new": [1]}))
        );
    }

    #[test]
    fn merging_with_nothing_keeps_the_other_side() {
        let some = object(json!({"a": 1}));
        assert_eq!(merge_parameters(&some, &Map::new()), some);
        assert_eq!(merge_parameters(&Map::new(), &some), some);
    }
}
