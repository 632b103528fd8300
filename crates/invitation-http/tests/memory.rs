//! Every row of spec §2 over a real port and a real HTTP client, on the
//! in-memory store.

mod common;

use std::sync::Arc;

use common::Harness;
use invitation_memory::MemoryStore;

async fn memory() -> Option<Harness> {
    Some(Harness::start(Arc::new(MemoryStore::new())).await)
}

api_tests!(
    memory;
    creating_an_invitation_answers_201_with_every_key_in_authentiks_order,
    creating_with_only_a_name_takes_the_defaults,
    creating_with_a_flow_answers_authentiks_whole_flow_object,
    read_only_keys_in_the_body_are_ignored,
    field_errors_are_reported_together_in_field_order_and_nothing_is_stored,
    a_name_is_required_and_an_empty_body_counts_as_an_empty_object,
    an_unknown_flow_is_a_field_error_and_nothing_is_stored,
    a_body_that_is_a_json_array_gets_non_field_errors,
    malformed_json_is_a_parse_error_and_nothing_is_stored,
    deeply_nested_json_is_refused_with_400_and_the_server_keeps_serving,
    json_nested_within_the_limit_is_stored_and_answered,
    json_nested_past_the_fixed_data_limit_is_a_field_error,
    a_serde_json_private_key_in_fixed_data_is_a_field_error,
    nested_serde_json_tokens_are_refused_and_the_server_keeps_serving,
    a_body_over_one_mebibyte_is_refused_with_413_and_nothing_is_stored,
    a_body_declared_far_too_large_is_refused_with_413_before_it_is_sent,
    a_body_of_exactly_one_mebibyte_is_accepted,
    a_body_that_is_not_json_is_refused_with_415_and_nothing_is_stored,
    expires_is_answered_in_utc_with_z_and_microseconds_only_when_set,
    every_route_without_credentials_is_refused_with_403_not_authenticated,
    bearer_without_a_token_counts_as_no_credentials,
    every_route_refuses_an_unknown_token_with_authentication_failed,
    every_route_refuses_an_inactive_users_token_with_authentication_failed,
    every_route_refuses_a_scheme_other_than_bearer,
    the_bearer_scheme_word_is_case_insensitive,
    every_route_refuses_a_caller_without_its_permission_and_changes_nothing,
    a_caller_without_permission_is_refused_before_its_body_or_pk_is_judged,
    authentication_is_checked_before_the_body_is_read,
    an_empty_list_is_one_page_with_zero_indices,
    the_list_pages_by_page_number,
    a_page_past_the_end_is_404_invalid_page,
    page_size_defaults_to_20_and_is_capped_at_100,
    the_list_is_ordered_by_minus_expires_by_default_never_expiring_first,
    the_list_orders_by_any_field_either_way,
    the_list_filters_by_name_creator_expiry_and_flow_slug,
    search_needs_every_word_in_name_creator_expiry_or_flow_slug,
    an_unreadable_expires_filter_is_a_field_error,
    retrieving_answers_the_invitation_as_created,
    an_unknown_pk_is_404_no_invitation_matches,
    a_malformed_pk_is_404_not_found,
    put_sets_the_given_fields_and_keeps_omitted_optional_ones,
    put_without_a_name_is_refused_and_changes_nothing,
    patch_changes_only_the_given_fields,
    patch_with_an_invalid_field_changes_nothing,
    deleting_answers_204_with_an_empty_body_and_the_invitation_is_gone,
    used_by_answers_an_empty_list,
    an_unknown_route_is_a_json_404,
    a_method_a_route_does_not_take_is_a_json_405_with_allow,
    health_live_and_ready_answer_200_without_credentials,
    the_schema_is_an_openapi_3_document_that_agrees_with_the_wire,
    every_invitation_answer_carries_an_etag_that_changes_on_every_write,
    a_write_whose_if_match_is_not_the_current_etag_is_412_and_changes_nothing,
    if_match_on_an_unknown_invitation_is_404_and_without_permission_403,
    a_get_whose_if_none_match_names_the_current_etag_is_304_without_a_body,
    concurrent_revocation_and_rename_over_http_both_take_effect,
    a_search_of_more_than_16_distinct_words_or_a_long_word_is_400_on_search,
    a_page_size_over_100_is_cut_to_100,
    a_page_of_large_invitations_is_streamed_and_reads_as_the_same_json,
);

/// Generated requests: whatever they hold, the answer is one spec §2 gives
/// and a refusal changes nothing (`common::generated`).
#[test]
fn generated_requests_get_answers_spec_2_gives_and_refusals_change_nothing() {
    common::generated::run(memory);
}
