//! The list use case's request and response (spec §2: filters, search,
//! ordering, pagination).

use crate::query::Ordering;
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

/// Why a search was refused. The `Display` text is authentik's style of
/// message (the HTTP adapter puts it on the `search` field).
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
    /// The last page.
    Last,
}

/// A list request.
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

/// One page of invitations.
#[derive(Debug, Clone, PartialEq)]
pub struct ListPage {
    /// This page's number (1-based).
    pub page: u64,
    /// Rows per page.
    pub page_size: u64,
    /// Rows matching in all.
    pub total: u64,
    /// The rows, with creators and flows resolved.
    pub results: Vec<InvitationView>,
}

impl ListPage {
    /// Pages in all: at least one, even when no row matches.
    pub fn total_pages(&self) -> u64 {
        total_pages(self.total, self.page_size)
    }
}

/// The pages `count` rows make at `page_size` per page (at least one).
pub(crate) fn total_pages(count: u64, page_size: u64) -> u64 {
    count.div_ceil(page_size.max(1)).max(1)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn searching(text: &str) -> ListRequest {
        ListRequest {
            search: Some(text.to_owned()),
            ..ListRequest::default()
        }
    }

    #[test]
    fn an_empty_list_is_one_page() {
        assert_eq!(total_pages(0, 20), 1);
        assert_eq!(total_pages(45, 20), 3);
        assert_eq!(total_pages(40, 20), 2);
    }

    #[test]
    fn page_size_defaults_to_20_and_is_capped_at_100() {
        let size = |page_size| {
            ListRequest {
                page_size,
                ..ListRequest::default()
            }
            .effective_page_size()
        };
        assert_eq!(size(None), 20);
        assert_eq!(size(Some(0)), 20);
        assert_eq!(size(Some(1000)), 100);
        assert_eq!(size(Some(7)), 7);
    }

    #[test]
    fn search_splits_on_white_space_and_commas() {
        assert_eq!(
            searching("  a  b,c ").search_words().unwrap(),
            ["a", "b", "c"]
        );
    }

    #[test]
    fn a_repeated_search_word_counts_once_ignoring_ascii_case() {
        let text = (0..100)
            .map(|i| if i % 2 == 0 { "Word" } else { "wORD" })
            .collect::<Vec<_>>()
            .join(" ");
        assert_eq!(searching(&text).search_words().unwrap(), ["Word"]);
    }

    #[test]
    fn sixteen_distinct_words_are_accepted_and_seventeen_refused() {
        let words = |n: usize| {
            (0..n)
                .map(|i| format!("w{i}"))
                .collect::<Vec<_>>()
                .join(" ")
        };
        assert_eq!(searching(&words(16)).search_words().unwrap().len(), 16);
        assert_eq!(
            searching(&words(17)).search_words().unwrap_err(),
            [SearchError::TooManyWords]
        );
    }

    #[test]
    fn a_word_of_101_characters_is_refused_and_100_accepted() {
        assert!(searching(&"é".repeat(100)).search_words().is_ok());
        let long = format!("a {}", "b".repeat(101));
        assert_eq!(
            searching(&long).search_words().unwrap_err(),
            [SearchError::WordTooLong]
        );
    }

    #[test]
    fn a_search_breaking_both_bounds_gets_both_errors_in_a_fixed_order() {
        let text = format!(
            "{} {}",
            "x".repeat(200),
            (0..40)
                .map(|i| format!("w{i}"))
                .collect::<Vec<_>>()
                .join(" ")
        );
        assert_eq!(
            searching(&text).search_words().unwrap_err(),
            [SearchError::TooManyWords, SearchError::WordTooLong]
        );
    }
}
