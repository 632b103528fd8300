//! The list use case's request and response (spec §2: filters, search,
//! ordering, pagination).

use crate::query::Ordering;
use crate::time::parse_timestamp;
use crate::validation::{Field, ValidationErrors};
use crate::view::InvitationView;

/// Default rows per page.
pub const DEFAULT_PAGE_SIZE: u64 = 20;
/// Most rows per page; larger requests are capped.
pub const MAX_PAGE_SIZE: u64 = 100;

/// Most distinct words a search may have (duplicates, ignoring ASCII case,
/// count once).
pub const MAX_SEARCH_WORDS: usize = 16;
/// Longest search word, in characters.
pub const MAX_SEARCH_WORD_CHARS: usize = 100;

/// Why a search was refused. The `Display` text is the API message (on the
/// `search` field).
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum SearchError {
    /// More than [`MAX_SEARCH_WORDS`] distinct words.
    #[error("Ensure this field has no more than 16 distinct words.")]
    TooManyWords,
    /// A word of more than [`MAX_SEARCH_WORD_CHARS`] characters.
    #[error("Ensure each word has no more than 100 characters.")]
    WordTooLong,
}

/// Which page to show.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
#[non_exhaustive]
pub enum PageNumber {
    /// The first page.
    #[default]
    First,
    /// Page `n` (1-based); 0 or past the end is an invalid page.
    Number(u64),
    /// The last page (`page=last`).
    Last,
    /// Unreadable (`page=abc`): always an invalid page.
    Invalid,
}

/// A list request, as the API's query string states it.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ListRequest {
    /// `page`
    pub page: PageNumber,
    /// `page_size` (default 20, capped at 100; 0 means the default).
    pub page_size: Option<u64>,
    /// `ordering` (default `-expires`).
    pub ordering: Option<Ordering>,
    /// `search`: words separated by white space or commas; every one must
    /// match. At most [`MAX_SEARCH_WORDS`] distinct words of at most
    /// [`MAX_SEARCH_WORD_CHARS`] characters each.
    pub search: Option<String>,
    /// `name`: exact.
    pub name: Option<String>,
    /// `created_by__username`: exact.
    pub created_by_username: Option<String>,
    /// `expires`: exact instant.
    pub expires: Option<chrono::DateTime<chrono::Utc>>,
    /// `flow__slug`: exact.
    pub flow_slug: Option<String>,
}

impl ListRequest {
    /// Reads query-string pairs the way authentik does: unknown keys,
    /// unknown ordering fields and unreadable page sizes are ignored; an
    /// empty value means "not given".
    ///
    /// # Errors
    /// An `expires` filter that is not a timestamp:
    /// `{"expires": ["Enter a valid date/time."]}`.
    pub fn from_query<'a>(
        pairs: impl IntoIterator<Item = (&'a str, &'a str)>,
    ) -> Result<Self, ValidationErrors> {
        let mut request = Self::default();
        let mut errors = ValidationErrors::new();
        for (key, value) in pairs {
            if value.is_empty() {
                continue;
            }
            match key {
                "page" => {
                    request.page = match value {
                        "last" => PageNumber::Last,
                        v => v
                            .trim()
                            .parse::<u64>()
                            .map_or(PageNumber::Invalid, PageNumber::Number),
                    }
                }
                "page_size" => request.page_size = value.trim().parse().ok().filter(|n| *n > 0),
                "ordering" => {
                    request.ordering = value
                        .split(',')
                        .map(str::trim)
                        .find_map(Ordering::from_wire);
                }
                "search" => {
                    if let Err(refused) = search_words(value) {
                        for e in refused {
                            errors.add(Field::Search, e.to_string());
                        }
                    }
                    request.search = Some(value.to_owned());
                }
                "name" => request.name = Some(value.to_owned()),
                "created_by__username" => request.created_by_username = Some(value.to_owned()),
                "flow__slug" => request.flow_slug = Some(value.to_owned()),
                "expires" => match parse_timestamp(value.trim()) {
                    Some(ts) => request.expires = Some(ts),
                    None => errors.add(Field::Expires, "Enter a valid date/time."),
                },
                _ => {}
            }
        }
        if errors.is_empty() {
            Ok(request)
        } else {
            Err(errors)
        }
    }

    /// The effective page size.
    pub fn effective_page_size(&self) -> u64 {
        self.page_size
            .filter(|n| *n > 0)
            .map_or(DEFAULT_PAGE_SIZE, |n| n.min(MAX_PAGE_SIZE))
    }

    /// The distinct search words, in the order given (a word repeated,
    /// ignoring ASCII case, which is how words match, counts once).
    ///
    /// # Errors
    /// Every bound the search breaks (see [`SearchError`]).
    pub fn search_words(&self) -> Result<Vec<&str>, Vec<SearchError>> {
        self.search.as_deref().map_or(Ok(Vec::new()), search_words)
    }
}

/// `text` split into distinct words, checked against the bounds. Stops
/// reading as soon as the word count is over the bound, so the work is
/// bounded by the bound, not by the text.
fn search_words(text: &str) -> Result<Vec<&str>, Vec<SearchError>> {
    let mut words: Vec<&str> = Vec::new();
    let mut errors = Vec::new();
    for word in text
        .split(|c: char| c.is_whitespace() || c == ',')
        .filter(|w| !w.is_empty())
    {
        if words.iter().any(|w| w.eq_ignore_ascii_case(word)) {
            continue;
        }
        if words.len() == MAX_SEARCH_WORDS {
            errors.push(SearchError::TooManyWords);
            break;
        }
        if word.chars().nth(MAX_SEARCH_WORD_CHARS).is_some()
            && !errors.contains(&SearchError::WordTooLong)
        {
            errors.push(SearchError::WordTooLong);
        }
        words.push(word);
    }
    if errors.is_empty() {
        Ok(words)
    } else {
        // Report in a fixed order, however the words came.
        errors.sort_by_key(|e| matches!(e, SearchError::WordTooLong));
        Err(errors)
    }
}

/// authentik's pagination block. `next`/`previous` are page numbers, 0 for
/// none.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Pagination {
    /// Next page number, or 0.
    pub next: u64,
    /// Previous page number, or 0.
    pub previous: u64,
    /// Rows matching in all.
    pub count: u64,
    /// This page's number.
    pub current: u64,
    /// Pages in all (at least 1).
    pub total_pages: u64,
    /// 1-based index of the first row shown, 0 when there are none.
    pub start_index: u64,
    /// 1-based index of the last row shown, 0 when there are none.
    pub end_index: u64,
}

impl Pagination {
    /// The pages `count` rows make at `page_size` per page (at least one).
    pub fn total_pages(count: u64, page_size: u64) -> u64 {
        count.div_ceil(page_size.max(1)).max(1)
    }

    /// The block for page `current` (already checked to exist).
    pub fn new(count: u64, page_size: u64, current: u64) -> Self {
        let total_pages = Self::total_pages(count, page_size);
        let offset = (current - 1) * page_size;
        let (start_index, end_index) = if count == 0 {
            (0, 0)
        } else {
            (offset + 1, (offset + page_size).min(count))
        };
        Self {
            next: if current < total_pages {
                current + 1
            } else {
                0
            },
            previous: current - 1,
            count,
            current,
            total_pages,
            start_index,
            end_index,
        }
    }
}

/// One page of invitations.
#[derive(Debug, Clone, PartialEq)]
pub struct ListPage {
    /// Where this page stands.
    pub pagination: Pagination,
    /// The rows, with creators and flows resolved.
    pub results: Vec<InvitationView>,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_empty_list_is_one_page_with_zero_indices() {
        let p = Pagination::new(0, 20, 1);
        assert_eq!(
            (
                p.count,
                p.current,
                p.total_pages,
                p.start_index,
                p.end_index,
                p.next,
                p.previous
            ),
            (0, 1, 1, 0, 0, 0, 0)
        );
    }

    #[test]
    fn the_middle_page_links_both_ways() {
        let p = Pagination::new(45, 20, 2);
        assert_eq!(
            (
                p.next,
                p.previous,
                p.total_pages,
                p.start_index,
                p.end_index
            ),
            (3, 1, 3, 21, 40)
        );
    }

    #[test]
    fn the_last_page_ends_at_the_count() {
        let p = Pagination::new(45, 20, 3);
        assert_eq!(
            (p.next, p.previous, p.start_index, p.end_index),
            (0, 2, 41, 45)
        );
    }

    #[test]
    fn page_size_defaults_to_20_and_is_capped_at_100() {
        let q = |s| {
            ListRequest::from_query([("page_size", s)])
                .unwrap()
                .effective_page_size()
        };
        assert_eq!(q("0"), 20);
        assert_eq!(q("-3"), 20);
        assert_eq!(q("abc"), 20);
        assert_eq!(q("1000"), 100);
        assert_eq!(q("7"), 7);
    }

    #[test]
    fn an_unknown_ordering_field_falls_back_to_the_default() {
        let r = ListRequest::from_query([("ordering", "bogus")]).unwrap();
        assert_eq!(r.ordering, None);
        let r = ListRequest::from_query([("ordering", "-name")]).unwrap();
        assert_eq!(r.ordering, Ordering::from_wire("-name"));
    }

    #[test]
    fn an_unreadable_expires_filter_is_a_field_error() {
        let e = ListRequest::from_query([("expires", "soon")]).unwrap_err();
        assert_eq!(e.messages(Field::Expires), ["Enter a valid date/time."]);
    }

    #[test]
    fn an_unreadable_page_is_invalid() {
        let r = ListRequest::from_query([("page", "abc")]).unwrap();
        assert_eq!(r.page, PageNumber::Invalid);
    }

    #[test]
    fn search_splits_on_white_space_and_commas() {
        let r = ListRequest::from_query([("search", "  a  b,c ")]).unwrap();
        assert_eq!(r.search_words().unwrap(), ["a", "b", "c"]);
    }

    #[test]
    fn a_repeated_search_word_counts_once_ignoring_ascii_case() {
        let text = (0..100)
            .map(|i| if i % 2 == 0 { "Word" } else { "wORD" })
            .collect::<Vec<_>>()
            .join(" ");
        let r = ListRequest::from_query([("search", text.as_str())]).unwrap();
        assert_eq!(r.search_words().unwrap(), ["Word"]);
    }

    #[test]
    fn sixteen_distinct_words_are_accepted_and_seventeen_refused_on_the_search_field() {
        let words = |n: usize| {
            (0..n)
                .map(|i| format!("w{i}"))
                .collect::<Vec<_>>()
                .join(" ")
        };
        let sixteen = words(16);
        let r = ListRequest::from_query([("search", sixteen.as_str())]).unwrap();
        assert_eq!(r.search_words().unwrap().len(), 16);
        let seventeen = words(17);
        let e = ListRequest::from_query([("search", seventeen.as_str())]).unwrap_err();
        assert_eq!(
            e.messages(Field::Search),
            ["Ensure this field has no more than 16 distinct words."]
        );
    }

    #[test]
    fn a_word_of_101_characters_is_refused_and_100_accepted() {
        let ok = "é".repeat(100);
        assert!(ListRequest::from_query([("search", ok.as_str())]).is_ok());
        let long = format!("a {}", "b".repeat(101));
        let e = ListRequest::from_query([("search", long.as_str())]).unwrap_err();
        assert_eq!(
            e.messages(Field::Search),
            ["Ensure each word has no more than 100 characters."]
        );
    }

    #[test]
    fn a_search_breaking_both_bounds_gets_both_messages_in_a_fixed_order() {
        let text = format!(
            "{} {}",
            "x".repeat(200),
            (0..40)
                .map(|i| format!("w{i}"))
                .collect::<Vec<_>>()
                .join(" ")
        );
        let e = ListRequest::from_query([("search", text.as_str())]).unwrap_err();
        assert_eq!(
            e.messages(Field::Search),
            [
                "Ensure this field has no more than 16 distinct words.",
                "Ensure each word has no more than 100 characters."
            ]
        );
    }
}
