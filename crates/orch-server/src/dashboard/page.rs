//! The HTML shell every page shares: head, navigation, scripts.

/// Navigation entries: (page key, path, label, what the reader needs; the
/// admin-only entries are hidden from others by app.js, and refused by the server).
const NAV: [(&str, &str, &str, &str); 8] = [
    ("overview", "/", "Overview", ""),
    ("flow-runs", "/flow-runs", "Flow runs", ""),
    ("deployments", "/deployments", "Deployments", ""),
    ("work-pools", "/work-pools", "Work pools", ""),
    ("automations", "/automations", "Automations", ""),
    ("artifact-keys", "/artifacts", "Artifacts", ""),
    ("tokens", "/tokens", "Tokens", "needs-admin"),
    ("audit", "/audit", "Audit", "needs-admin"),
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
    /// Whether `/assets/{key}.js` drives the page (error pages have none).
    script: bool,
}

impl<'a> Page<'a> {
    /// The page whose script is `/assets/{key}.js`.
    pub(crate) fn new(key: &'a str, title: &'a str) -> Page<'a> {
        Page {
            key,
            title,
            script: true,
        }
    }

    /// A page of its own script-less kind (an error page), in `key`'s section.
    pub(crate) fn plain(key: &'a str, title: &'a str) -> Page<'a> {
        Page {
            key,
            title,
            script: false,
        }
    }

    /// The full document around `main` (trusted HTML).
    pub(crate) fn render(&self, main: &str) -> String {
        let section = match self.key {
            "flow-run" => "flow-runs",
            "artifact" => "artifact-keys",
            key => key,
        };
        let nav: String = NAV
            .iter()
            .map(|(key, path, label, needs)| {
                let class = match (*key == section, needs.is_empty()) {
                    (true, true) => r#" class="active" aria-current="page""#.to_owned(),
                    (true, false) => format!(r#" class="active {needs}" aria-current="page""#),
                    (false, true) => String::new(),
                    (false, false) => format!(r#" class="{needs}""#),
                };
                format!(r#"<a href="{path}"{class}>{label}</a>"#)
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
{script}
</body>
</html>
"#,
            title = escape(self.title),
            key = self.key,
            script = if self.script {
                format!(
                    r#"<script src="/assets/{}.js?v={version}"></script>"#,
                    self.key
                )
            } else {
                String::new()
            },
            heading = if matches!(self.key, "flow-run" | "artifact") || !self.script {
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

    #[test]
    fn admin_entries_are_marked_and_error_pages_load_no_page_script() {
        let html = Page::plain("error", "Not found").render("<p>gone</p>");
        assert!(html.contains(r#"<a href="/tokens" class="needs-admin">Tokens</a>"#));
        assert!(html.contains(r#"<a href="/artifacts">Artifacts</a>"#));
        assert!(!html.contains("/assets/error.js"));
        assert!(html.contains("/assets/app.js"));
    }
}
