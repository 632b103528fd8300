//! `Templates`: the built-in mail, a host's directory, names and files
//! refused.
// Test code: a failed step should fail loudly.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

#[path = "support/smtp_sink.rs"]
mod smtp_sink;

use std::path::Path;

use chrono::{TimeZone, Utc};
use invitation_core::mail::{InvitationMail, MailTemplates, TemplateError, DEFAULT_TEMPLATE};
use invitation_mail::{Templates, MAX_TEMPLATE_BYTES};
use smtp_sink::ScratchDir;

const LINK: &str =
    "https://id.example.org/if/flow/signup/?itoken=3fa85f64-5717-4562-b3fc-2c963f66afa6";

fn values() -> InvitationMail {
    InvitationMail {
        url: LINK.to_owned(),
        host: "id.example.org".to_owned(),
        expires: Some(Utc.with_ymd_and_hms(2026, 3, 14, 9, 30, 0).unwrap()),
        inviter: "Alice Admin".to_owned(),
        invitation_name: "welcome-bob".to_owned(),
    }
}

fn write(root: &Path, name: &str, text: &str) {
    let path = root.join(name);
    std::fs::create_dir_all(path.parent().unwrap()).unwrap();
    std::fs::write(path, text).unwrap();
}

/// A scratch directory with `templates/` (what `from_dir` is given) and
/// `outside/` beside it.
fn tree() -> (ScratchDir, Templates) {
    let scratch = ScratchDir::new("mail-templates");
    std::fs::create_dir_all(scratch.path().join("templates")).unwrap();
    write(scratch.path(), "outside/secret.html", "SECRET {{ url }}");
    write(scratch.path(), "outside/secret.txt", "SECRET");
    let templates = Templates::from_dir(scratch.path().join("templates")).unwrap();
    (scratch, templates)
}

#[derive(Debug, PartialEq, Eq)]
enum Failure {
    NotAllowed,
    NotFound,
    Render,
}

/// How rendering `name` fails (the error must name it).
fn failure(templates: &Templates, name: &str) -> Failure {
    match templates.render(name, &values()) {
        Err(TemplateError::NotAllowed(n)) if n == name => Failure::NotAllowed,
        Err(TemplateError::NotFound(n)) if n == name => Failure::NotFound,
        Err(TemplateError::Render { name: n, .. }) if n == name => Failure::Render,
        other => panic!("{name:?}: {other:?}"),
    }
}

#[test]
fn the_default_mail_shows_every_value() {
    let mail = Templates::builtin()
        .render(DEFAULT_TEMPLATE, &values())
        .unwrap();
    for part in [&mail.html, &mail.text] {
        for value in ["Alice Admin", "welcome-bob", "id.example.org", LINK] {
            assert!(part.contains(value), "{value} missing from {part}");
        }
        assert!(part.contains("14 March 2026, 09:30 UTC"), "{part}");
    }
    assert!(
        mail.html.contains(&format!("<a href=\"{LINK}\"")),
        "{}",
        mail.html
    );
    assert!(mail.html.contains("Accept Invitation"), "{}", mail.html);
    assert!(
        mail.text.contains(&format!("\n\n{LINK}\n\n")),
        "{}",
        mail.text
    );
}

#[test]
fn a_mail_without_expiry_says_nothing_of_it() {
    let mail = Templates::builtin()
        .render(
            DEFAULT_TEMPLATE,
            &InvitationMail {
                expires: None,
                ..values()
            },
        )
        .unwrap();
    assert!(!mail.html.contains("expires"), "{}", mail.html);
    assert!(!mail.text.contains("expires"), "{}", mail.text);
    assert!(!mail.text.contains("none"), "{}", mail.text);
}

#[test]
fn values_are_escaped_in_html_and_not_in_text() {
    let mail = Templates::builtin()
        .render(
            DEFAULT_TEMPLATE,
            &InvitationMail {
                inviter: "<script>alert('x')</script> & \"co\"".to_owned(),
                ..values()
            },
        )
        .unwrap();
    assert!(!mail.html.contains("<script>"), "{}", mail.html);
    assert!(
        mail.html
            .contains("&lt;script&gt;alert(&#39;x&#39;)&lt;/script&gt; &amp; &#34;co&#34;"),
        "{}",
        mail.html
    );
    assert!(
        mail.text.contains("<script>alert('x')</script> & \"co\""),
        "{}",
        mail.text
    );
}

#[test]
fn names_outside_the_templates_are_not_allowed() {
    let (_scratch, templates) = tree();
    for name in [
        "../outside/secret.html",
        "email/../../outside/secret.html",
        "/etc/passwd.html",
        "./email/invitation.html",
        "email//invitation.html",
        "email\\invitation.html",
        "email/invitation.html\r\nBcc: x@example.org",
        "email/invitation\0.html",
        "",
    ] {
        assert_eq!(failure(&templates, name), Failure::NotAllowed, "{name:?}");
        assert_eq!(failure(&Templates::builtin(), name), Failure::NotAllowed);
    }
}

#[cfg(unix)]
#[test]
fn a_symbolic_link_out_of_the_directory_is_not_allowed() {
    let (scratch, templates) = tree();
    let root = scratch.path().join("templates");
    std::os::unix::fs::symlink(
        scratch.path().join("outside/secret.html"),
        root.join("evil.html"),
    )
    .unwrap();
    std::os::unix::fs::symlink(scratch.path().join("outside"), root.join("linked")).unwrap();
    for name in ["evil.html", "linked/secret.html"] {
        assert_eq!(failure(&templates, name), Failure::NotAllowed, "{name}");
    }
    // A link that stays inside is a template like any other.
    write(&root, "real.html", "real {{ host }}");
    std::os::unix::fs::symlink(root.join("real.html"), root.join("alias.html")).unwrap();
    let mail = templates.render("alias.html", &values()).unwrap();
    assert_eq!(mail.html, "real id.example.org");
}

#[cfg(unix)]
#[test]
fn an_include_cannot_leave_the_directory_either() {
    let (scratch, templates) = tree();
    let root = scratch.path().join("templates");
    write(&root, "up.html", "{% include '../outside/secret.html' %}");
    std::os::unix::fs::symlink(
        scratch.path().join("outside/secret.html"),
        root.join("evil.html"),
    )
    .unwrap();
    write(&root, "via-link.html", "{% include 'evil.html' %}");
    for name in ["up.html", "via-link.html"] {
        assert_eq!(failure(&templates, name), Failure::Render, "{name}");
    }
}

#[test]
fn unknown_names_are_not_found() {
    let (_scratch, templates) = tree();
    for name in [
        "email/unknown.html",
        "outside/secret.html",
        "email/invitation.txt",
        "email",
    ] {
        assert_eq!(failure(&templates, name), Failure::NotFound, "{name}");
        assert_eq!(failure(&Templates::builtin(), name), Failure::NotFound);
    }
}

#[test]
fn a_directory_serves_its_templates_with_includes_and_their_text_parts() {
    let (scratch, templates) = tree();
    let root = scratch.path().join("templates");
    write(
        &root,
        "email/layout.html",
        "<main>{% block body %}{% endblock %}</main>",
    );
    write(
        &root,
        "email/welcome.html",
        "{% extends 'email/layout.html' %}{% block body %}Hi from {{ inviter }}: {{ url }}{% endblock %}",
    );
    write(
        &root,
        "email/welcome.txt",
        "Hi from {{ inviter }}:\n{{ url }}\n",
    );
    let mail = templates.render("email/welcome.html", &values()).unwrap();
    assert_eq!(
        mail.html,
        format!("<main>Hi from Alice Admin: {LINK}</main>")
    );
    assert_eq!(mail.text, format!("Hi from Alice Admin:\n{LINK}"));
}

#[test]
fn an_html_template_without_a_text_sibling_gets_the_builtin_text() {
    let (scratch, templates) = tree();
    write(
        &scratch.path().join("templates"),
        "short.html",
        "<p>{{ url }}</p>",
    );
    let mail = templates.render("short.html", &values()).unwrap();
    let builtin = Templates::builtin()
        .render(DEFAULT_TEMPLATE, &values())
        .unwrap();
    assert_eq!(mail.text, builtin.text);
    assert_eq!(mail.html, format!("<p>{LINK}</p>"));
}

#[test]
fn the_default_comes_from_the_directory_when_it_has_one_and_else_is_builtin() {
    let (scratch, templates) = tree();
    let builtin = Templates::builtin()
        .render(DEFAULT_TEMPLATE, &values())
        .unwrap();
    assert_eq!(
        templates.render(DEFAULT_TEMPLATE, &values()).unwrap(),
        builtin
    );

    write(
        &scratch.path().join("templates"),
        DEFAULT_TEMPLATE,
        "<p>Ours: {{ invitation_name }}</p>",
    );
    let ours = templates.render(DEFAULT_TEMPLATE, &values()).unwrap();
    assert_eq!(ours.html, "<p>Ours: welcome-bob</p>");
    assert_eq!(ours.text, builtin.text);
}

#[test]
fn files_over_the_limit_and_broken_templates_fail_to_render() {
    let (scratch, templates) = tree();
    let root = scratch.path().join("templates");
    let limit = usize::try_from(MAX_TEMPLATE_BYTES).unwrap();
    write(&root, "big.html", &"x".repeat(limit + 1));
    write(&root, "fits.html", &"x".repeat(limit));
    write(&root, "broken.html", "{% if %}");
    write(&root, "bad-text.html", "fine");
    write(&root, "bad-text.txt", "{{ unclosed");
    std::fs::write(root.join("binary.html"), [0xff, 0xfe, 0x00]).unwrap();
    // Bounded work: a render that loops too long runs out of fuel.
    write(
        &root,
        "loops.html",
        "{% for a in range(10000) %}{% for b in range(10000) %}.{% endfor %}{% endfor %}",
    );
    assert_eq!(
        templates.render("fits.html", &values()).unwrap().html.len(),
        limit
    );
    for name in ["big.html", "broken.html", "binary.html", "loops.html"] {
        assert_eq!(failure(&templates, name), Failure::Render, "{name}");
    }
    // A broken text part is named as the template that failed.
    match templates.render("bad-text.html", &values()) {
        Err(TemplateError::Render { name, .. }) => assert_eq!(name, "bad-text.txt"),
        other => panic!("{other:?}"),
    }
}

#[test]
fn a_directory_that_does_not_exist_is_refused_at_start() {
    let scratch = ScratchDir::new("mail-templates");
    assert!(Templates::from_dir(scratch.path().join("missing")).is_err());
    write(scratch.path(), "file", "");
    assert!(Templates::from_dir(scratch.path().join("file")).is_err());
}
