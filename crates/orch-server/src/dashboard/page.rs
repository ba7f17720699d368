//! The HTML shell every page shares: head, navigation, scripts.

/// Navigation entries: (page key, path, label).
const NAV: [(&str, &str, &str); 5] = [
    ("overview", "/", "Overview"),
    ("flow-runs", "/flow-runs", "Flow runs"),
    ("deployments", "/deployments", "Deployments"),
    ("work-pools", "/work-pools", "Work pools"),
    ("automations", "/automations", "Automations"),
];

/// Escapes text for HTML element content and quoted attributes.
pub(crate) fn escape(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    out
}

/// A page: which script drives it and its title.
pub(crate) struct Page<'a> {
    key: &'a str,
    title: &'a str,
}

impl<'a> Page<'a> {
    /// The page whose script is `/assets/{key}.js`.
    pub(crate) fn new(key: &'a str, title: &'a str) -> Page<'a> {
        Page { key, title }
    }

    /// The full document around `main` (trusted HTML).
    pub(crate) fn render(&self, main: &str) -> String {
        let section = match self.key {
            "flow-run" | "artifact" => "flow-runs",
            key => key,
        };
        let nav: String = NAV
            .iter()
            .map(|(key, path, label)| {
                let current = if *key == section {
                    r#" class="active" aria-current="page""#
                } else {
                    ""
                };
                format!(r#"<a href="{path}"{current}>{label}</a>"#)
            })
            .collect();
        let version = crate::VERSION;
        format!(
            r#"<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>{title} · orch</title>
<link rel="icon" href="/favicon.svg" type="image/svg+xml">
<link rel="stylesheet" href="/assets/style.css?v={version}">
</head>
<body data-page="{key}">
<header class="topbar">
  <a class="brand" href="/"><img src="/assets/logo.svg?v={version}" alt="" width="22" height="22"> orch</a>
  <nav>{nav}</nav>
  <span class="live" id="live" title="Updates arrive without reloading">live</span>
  <span class="whoami" id="whoami"></span>
  <button class="btn small" id="logout" type="button" hidden>Log out</button>
</header>
<main>
{heading}
<div id="toast" class="toast" role="alert" hidden></div>
{main}
</main>
<script src="/assets/app.js?v={version}"></script>
<script src="/assets/charts.js?v={version}"></script>
<script src="/assets/artifacts.js?v={version}"></script>
<script src="/assets/{key}.js?v={version}"></script>
</body>
</html>
"#,
            title = escape(self.title),
            key = self.key,
            heading = if matches!(self.key, "flow-run" | "artifact") {
                String::new()
            } else {
                format!(
                    r#"<div class="page-title"><h1>{}</h1></div>"#,
                    escape(self.title)
                )
            },
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn escapes_markup_and_quotes() {
        assert_eq!(
            escape(r#"<a href="x">'&'</a>"#),
            "&lt;a href=&quot;x&quot;&gt;&#39;&amp;&#39;&lt;/a&gt;"
        );
    }

    #[test]
    fn the_current_section_is_marked_in_the_navigation() {
        let html = Page::new("flow-run", "Run x").render("<p>body</p>");
        assert!(html.contains(r#"<a href="/flow-runs" class="active" aria-current="page">"#));
        assert!(html.contains("/assets/flow-run.js"));
        assert!(html.contains("<title>Run x · orch</title>"));
    }
}
