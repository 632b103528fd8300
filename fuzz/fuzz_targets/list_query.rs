//! A list request's query string, as the HTTP adapter reads it: any bytes
//! are decoded as `application/x-www-form-urlencoded` pairs. Nothing may
//! panic, and an accepted request stays within the bounds.
#![no_main]

use invitation_core::{ListRequest, MAX_PAGE_SIZE, MAX_SEARCH_WORDS, MAX_SEARCH_WORD_CHARS};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let pairs: Vec<(String, String)> = form_urlencoded::parse(data).into_owned().collect();
    let Ok(request) =
        ListRequest::from_query(pairs.iter().map(|(k, v)| (k.as_str(), v.as_str())))
    else {
        return;
    };
    let size = request.effective_page_size();
    assert!((1..=MAX_PAGE_SIZE).contains(&size));
    let words = request
        .search_words()
        .expect("a request from_query accepted has an accepted search");
    assert!(words.len() <= MAX_SEARCH_WORDS);
    for (i, word) in words.iter().enumerate() {
        assert!(!word.is_empty() && word.chars().count() <= MAX_SEARCH_WORD_CHARS);
        assert!(words[..i].iter().all(|w| !w.eq_ignore_ascii_case(word)));
    }
});
