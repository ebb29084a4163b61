// The RFC 3464 report of the process channel (channels/process/dsn_report),
// built for given notices and parsed back: structure, headers, the
// per-recipient fields, what RET and the size limit return, templates.
#include "channels/process/dsn_report.hpp"
#include "channels/process/notice_templates.hpp"
#include "tests/channels/process/mime_parse.hpp"
#include "tests/channels/process/process_support.hpp"

using namespace imta;
using namespace imta::channels::process;
using namespace imta::testing;

namespace {

const std::string kOriginal =
    "From: Adam <adam@example.test>\r\n"
    "To: user@very.bogus.com\r\n"
    "Subject: lunch\r\n  on friday\r\n"
    "Message-ID: <orig@example.test>\r\n"
    "\r\n"
    "Shall we?\r\n"
    "--=_imta_report_Q1_1\r\n";  // a line that looks like our boundary

core::Notice failure_notice() {
  core::Notice n;
  n.kind = core::NoticeKind::failure;
  n.original_id = "Q1";
  n.original_message_id = "<orig@example.test>";
  n.original_from = "adam@example.test";
  n.original_envid = "ENV-7";
  n.reporting_channel = "tcp_local";
  n.arrival_ms = 1795000000000;
  n.recipients = {{"user@very.bogus.com", "rfc822;User@Very.Bogus.com", "failed", "5.1.2", "",
                   "Illegal host/domain name found", 1795000100000},
                  {"bob@example.org", "", "failed", "5.1.1", "dns; mx.example.org",
                   "smtp; 550 5.1.1 <bob@example.org>: no such user\r\nInjected: yes", 1795000200000}};
  return n;
}

struct Built {
  std::string bytes;
  Entity top;
  std::vector<Entity> parts;
};

Built build(const core::Notice& n, ReturnChoice choice, std::string template_text = {}) {
  if (template_text.empty()) template_text = load_template({}, n.kind);
  auto values = template_values(n, kOriginal, "mail.example.test", "postmaster@example.test", choice, 60);
  auto t = parse_template(template_text);
  t.subject = substitute(t.subject, values);
  t.body = substitute(t.body, values);
  ReportInput in;
  in.notice = &n;
  in.original = kOriginal;
  in.reporting_mta = "mail.example.test";
  in.from = "Internet Mail Delivery <postmaster@example.test>";
  in.to = n.original_from;
  in.message_id = "<new@mail.example.test>";
  in.date_ms = 1795000300000;
  in.utc_offset_minutes = 60;
  in.returned = choice;
  in.text = t;
  in.boundary = make_boundary("Q1_1", kOriginal);
  Built b;
  b.bytes = build_report(in);
  b.top = parse_entity(b.bytes);
  for (const auto& p : split_parts(b.top.body, boundary_of(b.top.field("Content-Type"))))
    b.parts.push_back(parse_entity(p));
  return b;
}

}  // namespace

TEST_CASE("a failure report is a multipart/report of three parts with the right headers", "[report]") {
  auto n = failure_notice();
  auto b = build(n, choose_return(n, false, kOriginal.size(), 0));
  // Every line ends in CRLF and none is too long.
  for (std::size_t i = 0; i < b.bytes.size(); ++i)
    if (b.bytes[i] == '\n') REQUIRE((i > 0 && b.bytes[i - 1] == '\r'));
  CHECK(b.top.field("From") == "Internet Mail Delivery <postmaster@example.test>");
  CHECK(b.top.field("To") == "<adam@example.test>");
  CHECK(b.top.field("Subject") == "Undelivered mail returned to sender: lunch on friday");
  CHECK(b.top.field("Message-ID") == "<new@mail.example.test>");
  CHECK(b.top.field("Auto-Submitted") == "auto-replied");
  CHECK(b.top.field("MIME-Version") == "1.0");
  CHECK(b.top.field("Date") == "Wed, 18 Nov 2026 12:11:40 +0100");
  CHECK(b.top.field("Content-Type").starts_with("multipart/report; report-type=delivery-status;"));
  // The boundary avoided the line of the original that looked like it.
  CHECK(boundary_of(b.top.field("Content-Type")) != "=_imta_report_Q1_1");
  REQUIRE(b.parts.size() == 3);
  CHECK(b.parts[0].field("Content-Type") == "text/plain; charset=us-ascii");
  CHECK(b.parts[1].field("Content-Type") == "message/delivery-status");
  CHECK(b.parts[2].field("Content-Type") == "message/rfc822");
  // RET not given: a failure returns the whole message, byte for byte.
  CHECK(b.parts[2].body == kOriginal);
}

TEST_CASE("the readable part comes from the template with its substitutions", "[report]") {
  auto n = failure_notice();
  auto b = build(n, choose_return(n, false, kOriginal.size(), 0));
  const auto& text = b.parts[0].body;
  CHECK(text.find("This is the mail system at mail.example.test.") != std::string::npos);
  CHECK(text.find("Message:  <orig@example.test>") != std::string::npos);
  CHECK(text.find("  <user@very.bogus.com>\r\n    Illegal host/domain name found\r\n") != std::string::npos);
  CHECK(text.find("  <bob@example.org>\r\n    smtp; 550 5.1.1 <bob@example.org>: no such user Injected: yes") !=
        std::string::npos);
  CHECK(text.find("The message is attached.") != std::string::npos);
  CHECK(text.find("write to postmaster@example.test") != std::string::npos);
  CHECK(text.find("${") == std::string::npos);
  CHECK(text.find("#") == std::string::npos);  // the template's comments are gone

  auto custom = build(n, choose_return(n, false, kOriginal.size(), 0),
                      "Subject: Bounce ${QUEUE_ID}\n\nFrom ${SENDER} via ${CHANNEL}, ${ENVID}; ${UNKNOWN}\n");
  CHECK(custom.top.field("Subject") == "Bounce Q1");
  CHECK(custom.parts[0].body == "From adam@example.test via tcp_local, ENV-7; ${UNKNOWN}\r\n");
}

TEST_CASE("the delivery-status part has the per-message and per-recipient fields", "[report]") {
  auto n = failure_notice();
  auto b = build(n, choose_return(n, false, kOriginal.size(), 0));
  auto groups = status_groups(b.parts[1].body);
  REQUIRE(groups.size() == 3);
  CHECK(groups[0].field("Reporting-MTA") == "dns; mail.example.test");
  CHECK(groups[0].field("Original-Envelope-Id") == "ENV-7");
  CHECK(groups[0].field("Arrival-Date") == "Wed, 18 Nov 2026 12:06:40 +0100");
  const auto& r1 = groups[1];
  CHECK(r1.field("Final-Recipient") == "rfc822; user@very.bogus.com");
  CHECK(r1.field("Original-Recipient") == "rfc822;User@Very.Bogus.com");
  CHECK(r1.field("Action") == "failed");
  CHECK(r1.field("Status") == "5.1.2");
  CHECK(r1.count("Remote-MTA") == 0);
  CHECK(r1.field("Diagnostic-Code") == "X-imta; Illegal host/domain name found");
  CHECK(r1.field("Last-Attempt-Date") == "Wed, 18 Nov 2026 12:08:20 +0100");
  const auto& r2 = groups[2];
  CHECK(r2.field("Final-Recipient") == "rfc822; bob@example.org");
  CHECK(r2.count("Original-Recipient") == 0);
  CHECK(r2.field("Status") == "5.1.1");
  CHECK(r2.field("Remote-MTA") == "dns; mx.example.org");
  // A remote reply cannot add a field of its own.
  CHECK(r2.field("Diagnostic-Code") == "smtp; 550 5.1.1 <bob@example.org>: no such user Injected: yes");
  CHECK(r2.count("Injected") == 0);
}

TEST_CASE("RET, the kind, the postmaster's copy and the size limit decide what is returned", "[report]") {
  auto n = failure_notice();
  SECTION("RET=HDRS returns the header section as text/rfc822-headers") {
    n.original_ret = core::Ret::hdrs;
    auto c = choose_return(n, false, kOriginal.size(), 0);
    CHECK(c.returned == Returned::headers);
    auto b = build(n, c);
    CHECK(b.parts[2].field("Content-Type") == "text/rfc822-headers");
    CHECK(b.parts[2].body ==
          "From: Adam <adam@example.test>\r\nTo: user@very.bogus.com\r\nSubject: lunch\r\n  on friday\r\n"
          "Message-ID: <orig@example.test>\r\n");
    CHECK(b.parts[0].body.find("The header section of the message is attached.") != std::string::npos);
  }
  SECTION("RET=FULL returns the whole message, also for success and delay notices") {
    n.original_ret = core::Ret::full;
    for (auto kind : {core::NoticeKind::failure, core::NoticeKind::delay, core::NoticeKind::success}) {
      n.kind = kind;
      CHECK(choose_return(n, false, 100, 0).returned == Returned::full);
    }
  }
  SECTION("without RET, success and delay notices return the header only") {
    n.kind = core::NoticeKind::success;
    CHECK(choose_return(n, false, 100, 0).returned == Returned::headers);
    n.kind = core::NoticeKind::delay;
    CHECK(choose_return(n, false, 100, 0).returned == Returned::headers);
  }
  SECTION("the postmaster's postheadonly copy returns the header only") {
    n.original_ret = core::Ret::full;
    CHECK(choose_return(n, true, 100, 0).returned == Returned::headers);
    CHECK_FALSE(choose_return(n, true, 100, 0).truncated);
  }
  SECTION("a message over CONTENT_RETURN_BLOCK_LIMIT returns its header only") {
    auto at_limit = choose_return(n, false, 2048, 2048);
    CHECK(at_limit.returned == Returned::full);
    auto over = choose_return(n, false, 2049, 2048);
    CHECK(over.returned == Returned::headers);
    CHECK(over.truncated);
    auto b = build(n, over);
    CHECK(b.parts[2].field("Content-Type") == "text/rfc822-headers");
    CHECK(b.parts[0].body.find("too big to return whole") != std::string::npos);
    CHECK(b.bytes.find("Shall we?") == std::string::npos);
  }
}

TEST_CASE("success and delay reports use their own templates and actions", "[report]") {
  auto n = failure_notice();
  n.kind = core::NoticeKind::success;
  n.recipients = {{"bob@example.org", "", "relayed", "2.0.0", "dns; old.example.org", "", 1795000200000}};
  auto b = build(n, choose_return(n, false, kOriginal.size(), 0));
  CHECK(b.top.field("Subject") == "Delivery report (success): lunch on friday");
  auto groups = status_groups(b.parts[1].body);
  REQUIRE(groups.size() == 2);
  CHECK(groups[1].field("Action") == "relayed");
  CHECK(groups[1].field("Status") == "2.0.0");
  CHECK(b.parts[2].field("Content-Type") == "text/rfc822-headers");

  n.kind = core::NoticeKind::delay;
  auto d = build(n, choose_return(n, false, kOriginal.size(), 0));
  CHECK(d.top.field("Subject").starts_with("Delayed mail"));
  CHECK(template_file_name(core::NoticeKind::delay) == "return_delay.txt");
}

TEST_CASE("8-bit text is labelled; a report without a template subject gets one", "[report]") {
  auto n = failure_notice();
  n.original_from = "";
  auto b = build(n, choose_return(n, false, kOriginal.size(), 0), "Zustellung fehlgeschlagen: ${SUBJECT} \xc3\xa4\n");
  CHECK(b.top.field("Subject") == "Delivery Status Notification (Failure)");
  CHECK(b.top.field("To") == "<>");
  CHECK(b.parts[0].field("Content-Type") == "text/plain; charset=utf-8");
  CHECK(b.parts[0].field("Content-Transfer-Encoding") == "8bit");
}

TEST_CASE("load_template reads config/locale and falls back to the built-in default", "[report]") {
  TempDir tmp;
  CHECK(load_template(tmp.dir, core::NoticeKind::failure).find("Subject: Undelivered mail") != std::string::npos);
  std::filesystem::create_directories(tmp.dir / "locale");
  std::ofstream(tmp.dir / "locale" / "return_failure.txt") << "Subject: mine\n\nmine\n";
  CHECK(load_template(tmp.dir, core::NoticeKind::failure) == "Subject: mine\n\nmine\n");
  CHECK(load_template(tmp.dir, core::NoticeKind::success).find("Delivery report") != std::string::npos);
}
