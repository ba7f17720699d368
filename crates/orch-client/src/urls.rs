//! Lists of server URLs: `--api-url`, `ORCH_API_URL` and the config file's
//! `api_url` may name several replicas of one orch installation (servers on
//! one PostgreSQL database), separated by commas. A client talks to one at a
//! time and fails over to the next ([`crate::failover`]).

/// The URLs of `text`, a comma-separated list ("http://a:4200,
/// b:4200"): each trimmed and normalized ([`normalize_url`]: `http://`
/// assumed, no trailing slash), empty items skipped, a repeat kept once, in
/// the order given. Empty when `text` names no URL.
pub fn split_urls(text: &str) -> Vec<String> {
    let mut urls: Vec<String> = Vec::new();
    for item in text
        .split(',')
        .map(str::trim)
        .filter(|item| !item.is_empty())
    {
        let url = normalize_url(item);
        if !urls.contains(&url) {
            urls.push(url);
        }
    }
    urls
}

/// `urls` as one setting: normalized and joined with commas, the form
/// [`split_urls`] reads back.
pub fn join_urls<S: AsRef<str>>(urls: &[S]) -> String {
    let mut joined: Vec<String> = Vec::new();
    for url in urls {
        for url in split_urls(url.as_ref()) {
            if !joined.contains(&url) {
                joined.push(url);
            }
        }
    }
    joined.join(",")
}

/// `url` with `http://` in front when it has no scheme, and no trailing slash.
pub fn normalize_url(url: &str) -> String {
    let url = url.trim().trim_end_matches('/');
    if url.contains("://") {
        url.to_owned()
    } else {
        format!("http://{url}")
    }
}

/// `urls` starting at `first` and wrapping around: the list a client hands
/// on (to a flow), beginning with the server it is using.
pub fn rotated<S: Clone>(urls: &[S], first: usize) -> Vec<S> {
    if urls.is_empty() {
        return Vec::new();
    }
    let first = first % urls.len();
    urls[first..]
        .iter()
        .chain(&urls[..first])
        .cloned()
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn urls_get_a_scheme_and_lose_a_trailing_slash() {
        assert_eq!(normalize_url("127.0.0.1:4200"), "http://127.0.0.1:4200");
        assert_eq!(normalize_url("http://h:1/"), "http://h:1");
        assert_eq!(normalize_url("https://h"), "https://h");
    }

    #[test]
    fn a_list_is_split_on_commas_normalized_and_deduplicated() {
        assert_eq!(split_urls("http://a:1"), ["http://a:1"]);
        assert_eq!(
            split_urls(" a:1 , https://b:2/,, http://a:1 ,c:3"),
            ["http://a:1", "https://b:2", "http://c:3"]
        );
        assert!(split_urls("").is_empty());
        assert!(split_urls(" , ,").is_empty());
    }

    #[test]
    fn lists_join_into_one_setting() {
        assert_eq!(join_urls(&["a:1", "b:2,a:1", " "]), "http://a:1,http://b:2");
        assert_eq!(join_urls::<&str>(&[]), "");
        assert_eq!(
            split_urls(&join_urls(&["a:1", "b:2"])),
            ["http://a:1", "http://b:2"]
        );
    }

    #[test]
    fn a_rotated_list_starts_with_the_chosen_url() {
        let urls = ["a", "b", "c"];
        assert_eq!(rotated(&urls, 0), ["a", "b", "c"]);
        assert_eq!(rotated(&urls, 2), ["c", "a", "b"]);
        assert_eq!(rotated(&urls, 4), ["b", "c", "a"]);
        assert!(rotated::<&str>(&[], 1).is_empty());
    }
}
