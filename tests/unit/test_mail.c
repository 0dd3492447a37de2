/* Unit tests for mail: message structure, escaping, header injection, RFC 2047
 * subjects and links. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>
#include <sodium.h>

#include <stdlib.h>

#include "auth/auth.h"
#include "core/config.h"
#include "core/crypto.h"
#include "modules.h"
#include "orgs/orgs.h"
#include "platform/mail/mail.h"
#include "platform/mail/message.h"

#define BOUNDARY "=_plinth_test"

static int setup(void **state)
{
    (void)state;
    assert_int_equal(pl_crypto_init(), PL_OK);
    /* the mail module's settings come from its options, as in the server */
    static bool loaded;
    if (!loaded) {
        pl_config_add(pl_mail_module.options);
        setenv("PLINTH_MAIL_FROM", "Plinth <noreply@mail.example.com>", 1);
        unsetenv("PLINTH_SMTP_URL");
        assert_int_equal(pl_config_load(PL_OPT_RUN, NULL, 0, NULL, "", NULL, 0, NULL), PL_OK);
        pl_mail_register(pl_auth_templates);
        pl_mail_register(pl_orgs_templates);
        loaded = true;
    }
    snprintf(pl_cfg.public_url, sizeof(pl_cfg.public_url), "https://app.example.com");
    return 0;
}

/* Decodes base64 that may contain CRLF line breaks into out (NUL-terminated). */
static size_t b64_decode(const char *in, size_t n, char *out, size_t outlen)
{
    size_t bin = 0;
    assert_int_equal(sodium_base642bin((unsigned char *)out, outlen - 1, in, n, "\r\n", &bin, NULL,
                                       sodium_base64_VARIANT_ORIGINAL),
                     0);
    out[bin] = '\0';
    return bin;
}

/* The body of the MIME part of type ctype, decoded into out. */
static void part_body(const char *msg, const char *ctype, char *out, size_t outlen)
{
    char want[128];
    snprintf(want, sizeof(want),
             "--" BOUNDARY "\r\nContent-Type: %s; charset=utf-8\r\n"
             "Content-Transfer-Encoding: base64\r\n\r\n",
             ctype);
    const char *start = strstr(msg, want);
    assert_non_null(start);
    start += strlen(want);
    const char *end = strstr(start, "\r\n--" BOUNDARY);
    assert_non_null(end);
    /* every base64 line is at most 76 characters */
    for (const char *l = start; l < end;) {
        const char *eol = strstr(l, "\r\n");
        assert_true(eol - l <= 76);
        l = eol + 2;
    }
    b64_decode(start, (size_t)(end - start) + 2, out, outlen);
}

static const char *header(const char *msg, const char *name, char *out, size_t outlen)
{
    char want[64];
    snprintf(want, sizeof(want), "\r\n%s: ", name);
    const char *h = strncmp(msg, want + 2, strlen(want + 2)) == 0 ? msg : strstr(msg, want);
    const char *head_end = strstr(msg, "\r\n\r\n");
    if (!h || h > head_end)
        return NULL;
    h += h == msg ? strlen(want + 2) : strlen(want);
    size_t n = (size_t)(strstr(h, "\r\n") - h);
    snprintf(out, outlen, "%.*s", (int)n, h);
    return out;
}

static void message_structure(void **state)
{
    (void)state;
    const char *text = "Hello,\nline two\r\nline three é\n";
    const char *html = "<p>Hello &amp; welcome</p>\n";
    pl_mail_msg_t m = {
        .from = "Plinth <noreply@mail.example.com>",
        .to = "alice@example.org",
        .subject = "Verify your email address",
        .message_id = "<0190d7e8-0000-7000-8000-000000000001@mail.example.com>",
        .date_ms = 1795381445000LL,
        .text = {text, strlen(text)},
        .html = {html, strlen(html)},
        .boundary = BOUNDARY,
    };
    pl_buf_t b;
    assert_int_equal(pl_mail_msg_build(&m, &b), PL_OK);
    const char *msg = b.ptr;

    /* CRLF everywhere, no line over 78 characters */
    size_t col = 0;
    for (size_t i = 0; i < b.len; i++) {
        if (msg[i] == '\n') {
            assert_true(i > 0 && msg[i - 1] == '\r');
            col = 0;
        } else {
            assert_true(msg[i] != '\r' || msg[i + 1] == '\n');
            assert_true(++col <= 78);
        }
    }
    char v[256];
    assert_string_equal(header(msg, "Date", v, sizeof(v)), "Sun, 22 Nov 2026 21:04:05 +0000");
    assert_string_equal(header(msg, "From", v, sizeof(v)), "Plinth <noreply@mail.example.com>");
    assert_string_equal(header(msg, "To", v, sizeof(v)), "alice@example.org");
    assert_string_equal(header(msg, "Subject", v, sizeof(v)), "Verify your email address");
    assert_string_equal(header(msg, "Message-ID", v, sizeof(v)),
                        "<0190d7e8-0000-7000-8000-000000000001@mail.example.com>");
    assert_string_equal(header(msg, "MIME-Version", v, sizeof(v)), "1.0");
    assert_string_equal(header(msg, "Content-Type", v, sizeof(v)), "multipart/alternative;");
    assert_non_null(strstr(msg, "multipart/alternative;\r\n boundary=\"" BOUNDARY "\"\r\n\r\n"));
    assert_non_null(strstr(msg, "\r\n--" BOUNDARY "--\r\n"));
    assert_int_equal(strcmp(msg + b.len - strlen("--" BOUNDARY "--\r\n"), "--" BOUNDARY "--\r\n"),
                     0);

    char out[1024];
    part_body(msg, "text/plain", out, sizeof(out));
    assert_string_equal(out, "Hello,\r\nline two\r\nline three é\r\n");
    part_body(msg, "text/html", out, sizeof(out));
    assert_string_equal(out, "<p>Hello &amp; welcome</p>\r\n");
    pl_buf_free(&b);
}

static void random_boundary(void **state)
{
    (void)state;
    pl_mail_msg_t m = {.from = "a@b.example",
                       .to = "c@d.example",
                       .subject = "s",
                       .message_id = "<x@b.example>",
                       .text = PL_STR("t"),
                       .html = PL_STR("h")};
    pl_buf_t b1, b2;
    assert_int_equal(pl_mail_msg_build(&m, &b1), PL_OK);
    assert_int_equal(pl_mail_msg_build(&m, &b2), PL_OK);
    const char *v1 = strstr(b1.ptr, "\r\n boundary=\"=_plinth_");
    const char *v2 = strstr(b2.ptr, "\r\n boundary=\"=_plinth_");
    assert_non_null(v1);
    assert_non_null(v2);
    assert_true(memcmp(v1, v2, 60) != 0);
    pl_buf_free(&b1);
    pl_buf_free(&b2);
}

static void date_format(void **state)
{
    (void)state;
    char d[40];
    pl_mail_date(0, d);
    assert_string_equal(d, "Thu, 01 Jan 1970 00:00:00 +0000");
    pl_mail_date(1795381445999LL, d);
    assert_string_equal(d, "Sun, 22 Nov 2026 21:04:05 +0000");
}

static void body_cap(void **state)
{
    (void)state;
    static char big[PL_MAIL_BODY_MAX + 1];
    memset(big, 'a', sizeof(big));
    pl_mail_msg_t m = {.from = "a@b.example",
                       .to = "c@d.example",
                       .subject = "s",
                       .message_id = "<x@b.example>",
                       .text = {big, sizeof(big)},
                       .html = PL_STR("h")};
    pl_buf_t b;
    assert_int_equal(pl_mail_msg_build(&m, &b), PL_ELIMIT);
    pl_buf_free(&b);
    /* the largest bodies, with every line end doubled by CRLF, still fit */
    memset(big, '\n', sizeof(big));
    m.text.len = m.html.len = PL_MAIL_BODY_MAX;
    m.html.ptr = big;
    assert_int_equal(pl_mail_msg_build(&m, &b), PL_OK);
    pl_buf_free(&b);
}

static json_t *render(const char *t, const char *to, json_t *vars)
{
    json_t *p = NULL;
    assert_int_equal(pl_mail_render(t, to, vars, &p), PL_OK);
    json_decref(vars);
    return p;
}

static const char *field(json_t *p, const char *k)
{
    const char *s = json_string_value(json_object_get(p, k));
    assert_non_null(s);
    return s;
}

static void html_escaping(void **state)
{
    (void)state;
    const char *evil = "<script>alert(\"x\")</script> & 'y'";
    json_t *p = render("invitation", "bob@example.org",
                       json_pack("{s:s, s:s, s:s, s:s, s:s}", "name", evil, "org_name", evil,
                                 "inviter_name", evil, "role", "admin", "link",
                                 "https://app.example.com/accept-invite?token=a\"b"));
    const char *html = field(p, "html"), *text = field(p, "text");
    assert_null(strstr(html, "<script>"));
    assert_null(strstr(html, "a\"b"));
    assert_non_null(strstr(html, "&lt;script&gt;alert(&quot;x&quot;)&lt;/script&gt; &amp; "
                                 "&#39;y&#39;"));
    assert_non_null(
        strstr(html, "<a href=\"https://app.example.com/accept-invite?token=a&quot;b\">"));
    /* the text part carries the variables as they are */
    assert_non_null(strstr(text, evil));
    assert_non_null(strstr(text, "https://app.example.com/accept-invite?token=a\"b"));
    assert_non_null(strstr(text, " as admin."));
    json_decref(p);
}

static void every_template_renders(void **state)
{
    (void)state;
    static const char *const names[] = {"verify_email",     "password_reset", "invitation",
                                        "password_changed", "mfa_enabled",    "mfa_disabled"};
    for (size_t t = 0; t < sizeof(names) / sizeof(names[0]); t++) {
        json_t *p =
            render(names[t], "carol@example.org",
                   json_pack("{s:s, s:s, s:s, s:s}", "name", "Carol", "link",
                             "https://x.example/l?token=t", "org_name", "Acme", "role", "member"));
        assert_true(strlen(field(p, "subject")) > 5);
        assert_non_null(strstr(field(p, "text"), "Hi Carol,"));
        assert_non_null(strstr(field(p, "html"), "<p>Hi Carol,</p>"));
        assert_null(strstr(field(p, "text"), "{{"));
        assert_null(strstr(field(p, "html"), "{{"));
        assert_string_equal(field(p, "to"), "carol@example.org");
        const char *id = field(p, "message_id");
        assert_int_equal(id[0], '<');
        assert_non_null(strstr(id, "@mail.example.com>"));
        json_decref(p);
    }
    json_t *p = NULL;
    assert_int_equal(pl_mail_render("no_such_template", "a@b.example", NULL, &p), PL_EINVAL);
    assert_null(p);
    /* a template with a link refuses to render without one */
    assert_int_equal(pl_mail_render("verify_email", "a@b.example", NULL, &p), PL_EINVAL);
    assert_null(p);
    /* no name: a neutral greeting */
    p = render("password_changed", "a@b.example", json_object());
    assert_true(strncmp(field(p, "text"), "Hello,\n", 7) == 0);
    json_decref(p);
}

/* Variables every template sees without its caller passing them. */
static bool implicit_var(const char *v)
{
    static const char *const names[] = {"greeting", "product", "name", "subject", "locale"};
    for (size_t i = 0; i < sizeof(names) / sizeof(names[0]); i++)
        if (!strcmp(v, names[i]))
            return true;
    return false;
}

static bool declared_var(const pl_mail_template_def_t *t, const char *v)
{
    for (const char *const *d = t->vars; d && *d; d++)
        if (!strcmp(*d, v))
            return true;
    return false;
}

/* Every {{variable}} of part is implicit or declared by the template. */
static void check_vars_declared(const pl_mail_template_def_t *t, const char *part)
{
    for (const char *p = strstr(part, "{{"); p; p = strstr(p + 2, "{{")) {
        const char *close = strstr(p, "}}");
        assert_non_null(close);
        char v[64];
        size_t n = (size_t)(close - p - 2);
        assert_true(n < sizeof(v));
        memcpy(v, p + 2, n);
        v[n] = '\0';
        if (!implicit_var(v) && !declared_var(t, v))
            fail_msg("template %s uses {{%s}} without declaring it", t->name, v);
    }
}

/* Every template of every module, rendered with every variable it uses set:
 * each value shows up, nothing is left unexpanded. */
static void every_module_template_expands(void **state)
{
    (void)state;
    char saved[sizeof(pl_cfg.product_name)];
    memcpy(saved, pl_cfg.product_name, sizeof(saved));
    snprintf(pl_cfg.product_name, sizeof(pl_cfg.product_name), "Acme Cloud");
    int checked = 0;
    for (const pl_module_t *const *m = pl_modules; *m; m++) {
        if (!(*m)->templates)
            continue;
        pl_mail_register((*m)->templates); /* a second registration is harmless */
        for (const pl_mail_template_def_t *t = (*m)->templates; t->name; t++) {
            check_vars_declared(t, t->subject);
            check_vars_declared(t, t->text);
            check_vars_declared(t, t->html);
            json_t *vars = json_pack("{s:s}", "name", "Nora");
            for (const char *const *d = t->vars; d && *d; d++) {
                char value[96];
                snprintf(value, sizeof(value), "%sV%s",
                         strcmp(*d, "link") ? "" : "https://x.example/", *d);
                json_object_set_new(vars, *d, json_string(value));
            }
            json_t *p = render(t->name, "nora@example.org", vars);
            const char *parts[] = {field(p, "subject"), field(p, "text"), field(p, "html")};
            for (size_t i = 0; i < 3; i++) {
                if (strstr(parts[i], "{{") || strstr(parts[i], "}}"))
                    fail_msg("template %s left a variable unexpanded: %s", t->name, parts[i]);
                if (strstr(parts[i],
                           "plinth")) /* the product's name comes from the configuration */
                    fail_msg("template %s names plinth: %s", t->name, parts[i]);
            }
            for (const char *const *d = t->vars; d && *d; d++) {
                char value[96];
                snprintf(value, sizeof(value), "V%s", *d);
                if (!strstr(parts[1], value) && !strstr(parts[2], value) &&
                    !strstr(parts[0], value))
                    fail_msg("template %s does not show {{%s}}", t->name, *d);
            }
            assert_non_null(strstr(parts[1], "Nora"));
            assert_non_null(strstr(parts[1], "Acme Cloud"));
            json_decref(p);
            checked++;
        }
    }
    memcpy(pl_cfg.product_name, saved, sizeof(saved));
    assert_true(checked >= 8);
}

static void header_injection(void **state)
{
    (void)state;
    json_t *p = NULL;
    const char *bad_to[] = {"a@b.example\r\nBcc: evil@x.example",
                            "a@b.example\nBcc: e@x.example",
                            "a@b.example\r",
                            "no-at-sign",
                            "@b.example",
                            "a@",
                            "a@b@c.example",
                            "Eve <eve@x.example>",
                            "a@b.example, c@d.example",
                            "a b@c.example",
                            ""};
    for (size_t i = 0; i < PL_ARRAY_LEN(bad_to); i++) {
        assert_int_equal(pl_mail_render("password_changed", bad_to[i], NULL, &p), PL_EINVAL);
        assert_null(p);
    }
    char long_to[PL_MAIL_ADDR_MAX + 2];
    memset(long_to, 'a', sizeof(long_to) - 1);
    long_to[sizeof(long_to) - 1] = '\0';
    long_to[10] = '@';
    assert_int_equal(pl_mail_render("password_changed", long_to, NULL, &p), PL_EINVAL);
    long_to[PL_MAIL_ADDR_MAX] = '\0'; /* exactly 320 bytes is fine */
    assert_int_equal(pl_mail_render("password_changed", long_to, NULL, &p), PL_OK);
    json_decref(p);

    /* a variable in the subject cannot add a header */
    p = render("invitation", "a@b.example",
               json_pack("{s:s, s:s}", "org_name", "Acme\r\nBcc: evil@x.example", "link", "l"));
    assert_null(strpbrk(field(p, "subject"), "\r\n"));
    json_decref(p);

    /* the builder refuses CR/LF in every header value */
    pl_mail_msg_t ok = {.from = "a@b.example",
                        .to = "c@d.example",
                        .subject = "s",
                        .message_id = "<x@b.example>",
                        .text = PL_STR("t"),
                        .html = PL_STR("h")};
    pl_buf_t b;
    pl_mail_msg_t m = ok;
    m.subject = "Hi\r\nBcc: evil@x.example";
    assert_int_equal(pl_mail_msg_build(&m, &b), PL_EINVAL);
    pl_buf_free(&b);
    m = ok;
    m.subject = "Hi\nthere";
    assert_int_equal(pl_mail_msg_build(&m, &b), PL_EINVAL);
    pl_buf_free(&b);
    m = ok;
    m.from = "a@b.example\r\nBcc: evil@x.example";
    assert_int_equal(pl_mail_msg_build(&m, &b), PL_EINVAL);
    pl_buf_free(&b);
    m = ok;
    m.to = "c@d.example\r\nBcc: evil@x.example";
    assert_int_equal(pl_mail_msg_build(&m, &b), PL_EINVAL);
    pl_buf_free(&b);
    m = ok;
    m.message_id = "<x@b.example>\r\nBcc: evil@x.example";
    assert_int_equal(pl_mail_msg_build(&m, &b), PL_EINVAL);
    pl_buf_free(&b);
    m = ok;
    m.boundary = "x\r\nBcc: evil@x.example";
    assert_int_equal(pl_mail_msg_build(&m, &b), PL_EINVAL);
    pl_buf_free(&b);

    /* a malformed job payload is a permanent failure */
    char err[128];
    json_t *bad = json_pack("{s:s, s:s, s:s, s:s, s:s}", "to", "a@b.example", "subject",
                            "x\r\nBcc: evil@x.example", "text", "t", "html", "h", "message_id",
                            "<x@b.example>");
    assert_int_equal(pl_mail_deliver(bad, err, sizeof(err)), PL_EINVAL);
    json_decref(bad);
    bad = json_pack("{s:s}", "to", "a@b.example");
    assert_int_equal(pl_mail_deliver(bad, err, sizeof(err)), PL_EINVAL);
    json_decref(bad);
}

/* Decodes a folded run of =?UTF-8?B?...?= words back to UTF-8, checking each. */
static void decode_subject(const char *enc, char *out, size_t outlen)
{
    size_t len = 0;
    const char *p = enc;
    int words = 0;
    while (*p) {
        if (words++) {
            assert_memory_equal(p, "\r\n ", 3);
            p += 3;
        }
        const char *end = strstr(p, "?=");
        assert_non_null(end);
        assert_memory_equal(p, "=?UTF-8?B?", 10);
        assert_true(end + 2 - p <= 75);
        char word[128];
        size_t n = b64_decode(p + 10, (size_t)(end - p - 10), word, sizeof(word));
        /* whole characters in every word: no continuation byte first */
        assert_true(((unsigned char)word[0] & 0xc0) != 0x80);
        memcpy(out + len, word, n);
        len += n;
        assert_true(len < outlen);
        p = end + 2;
    }
    out[len] = '\0';
}

static void subject_encoding(void **state)
{
    (void)state;
    pl_buf_t b;
    char dec[1024];

    pl_buf_init(&b, 4096);
    assert_int_equal(pl_mail_subject_encode(&b, "Reset your password"), PL_OK);
    assert_string_equal(b.ptr, "Reset your password");
    pl_buf_free(&b);

    pl_buf_init(&b, 4096);
    assert_int_equal(pl_mail_subject_encode(&b, "Vérifiez votre adresse"), PL_OK);
    assert_string_equal(b.ptr, "=?UTF-8?B?VsOpcmlmaWV6IHZvdHJlIGFkcmVzc2U=?=");
    pl_buf_free(&b);

    /* long, multi-byte: folded into words that never split a character */
    const char *jp =
        "メールアドレスを確認してください。組織「株式会社サンプル」への招待が届いています";
    pl_buf_init(&b, 4096);
    assert_int_equal(pl_mail_subject_encode(&b, jp), PL_OK);
    assert_non_null(strstr(b.ptr, "\r\n "));
    decode_subject(b.ptr, dec, sizeof(dec));
    assert_string_equal(dec, jp);
    pl_buf_free(&b);

    /* ASCII that looks like an encoded-word is encoded too */
    pl_buf_init(&b, 4096);
    assert_int_equal(pl_mail_subject_encode(&b, "=?UTF-8?B?Zm9v?="), PL_OK);
    decode_subject(b.ptr, dec, sizeof(dec));
    assert_string_equal(dec, "=?UTF-8?B?Zm9v?=");
    pl_buf_free(&b);

    pl_buf_init(&b, 4096);
    assert_int_equal(pl_mail_subject_encode(&b, "a\tb"), PL_EINVAL);
    pl_buf_free(&b);

    /* through the template: a non-ASCII org name */
    json_t *p = render("invitation", "a@b.example",
                       json_pack("{s:s, s:s}", "org_name", "Café Ünïcode", "link", "l"));
    assert_string_equal(field(p, "subject"), "You are invited to join Café Ünïcode");
    pl_mail_msg_t m = {.from = "a@b.example",
                       .to = "c@d.example",
                       .subject = field(p, "subject"),
                       .message_id = "<x@b.example>",
                       .text = PL_STR("t"),
                       .html = PL_STR("h")};
    assert_int_equal(pl_mail_msg_build(&m, &b), PL_OK);
    char v[256];
    assert_non_null(header(b.ptr, "Subject", v, sizeof(v)));
    assert_true(strncmp(v, "=?UTF-8?B?", 10) == 0);
    pl_buf_free(&b);
    json_decref(p);
}

static void links(void **state)
{
    (void)state;
    pl_arena_t *a = pl_arena_create();
    assert_string_equal(pl_mail_link(a, "/verify-email", "AbC-_.~09"),
                        "https://app.example.com/verify-email?token=AbC-_.~09");
    assert_string_equal(pl_mail_link(a, "/reset-password", "a b+c/d=&é"),
                        "https://app.example.com/reset-password?token=a%20b%2Bc%2Fd%3D%26%C3%A9");

    const char *link = pl_mail_link(a, "/verify-email", "tok_123-x");
    json_t *p = render("verify_email", "a@b.example", json_pack("{s:s}", "link", link));
    assert_non_null(
        strstr(field(p, "text"), "\n\nhttps://app.example.com/verify-email?token=tok_123-x\n"));
    assert_non_null(strstr(field(p, "html"),
                           "<a href=\"https://app.example.com/verify-email?token=tok_123-x\">"));
    json_decref(p);
    pl_arena_destroy(a);
}

static void addresses(void **state)
{
    (void)state;
    char spec[PL_MAIL_ADDR_MAX + 1], dom[256];
    assert_int_equal(pl_mail_addr_spec("Plinth <noreply@x.example>", spec, sizeof(spec)), PL_OK);
    assert_string_equal(spec, "noreply@x.example");
    assert_int_equal(pl_mail_addr_spec("noreply@x.example", spec, sizeof(spec)), PL_OK);
    assert_string_equal(spec, "noreply@x.example");
    assert_int_equal(pl_mail_addr_spec("Plinth <noreply>", spec, sizeof(spec)), PL_EINVAL);
    assert_int_equal(pl_mail_addr_spec("Plinth <a@b.example", spec, sizeof(spec)), PL_EINVAL);
    pl_mail_addr_domain("Plinth <noreply@x.example>", dom, sizeof(dom));
    assert_string_equal(dom, "x.example");
    pl_mail_addr_domain("plinth@localhost", dom, sizeof(dom));
    assert_string_equal(dom, "localhost");
    assert_true(pl_mail_addr_valid("josé@exämple.org"));
}

static void log_transport(void **state)
{
    (void)state;
    json_t *p = render("password_reset", "a@b.example",
                       json_pack("{s:s, s:s}", "name", "A", "link", "https://x.example/r?token=t"));
    char err[128];
    assert_int_equal(pl_mail_deliver(p, err, sizeof(err)), PL_OK);
    json_decref(p);
    /* a text longer than one log line goes out in several */
    static char text[5000];
    for (size_t i = 0; i + 2 < sizeof(text); i += 2)
        memcpy(text + i, "é", 2);
    p = json_pack("{s:s, s:s, s:s, s:s, s:s}", "to", "a@b.example", "subject", "s", "text", text,
                  "html", "h", "message_id", "<x@b.example>");
    assert_int_equal(pl_mail_deliver(p, err, sizeof(err)), PL_OK);
    json_decref(p);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(message_structure),
        cmocka_unit_test(random_boundary),
        cmocka_unit_test(date_format),
        cmocka_unit_test(body_cap),
        cmocka_unit_test(html_escaping),
        cmocka_unit_test(every_template_renders),
        cmocka_unit_test(every_module_template_expands),
        cmocka_unit_test(header_injection),
        cmocka_unit_test(subject_encoding),
        cmocka_unit_test(links),
        cmocka_unit_test(addresses),
        cmocka_unit_test(log_transport),
    };
    return cmocka_run_group_tests(tests, setup, NULL);
}
