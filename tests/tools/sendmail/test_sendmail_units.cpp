// sendmail(8)'s pure parts: the command line (tools/sendmail/sendmail_flags)
// and what happens to the message before it is queued
// (tools/sendmail/message_prep).
#include <catch2/catch.hpp>

#include "core/text.hpp"
#include "tools/sendmail/message_prep.hpp"
#include "tools/sendmail/sendmail_flags.hpp"

using namespace imta::tools::sendmail;

namespace {

Flags flags_of(std::vector<std::string> args) {
  auto r = parse_flags(args);
  INFO(r.error);
  REQUIRE(r.flags);
  return *r.flags;
}

std::string error_of(std::vector<std::string> args) {
  auto r = parse_flags(args);
  REQUIRE_FALSE(r.flags);
  return r.error;
}

SplitMessage split(std::string_view lf_text) { return split_message(imta::core::to_crlf(lf_text)); }

}  // namespace

// ---- flags ---------------------------------------------------------------------

TEST_CASE("cron's command line: -FCronDaemon -i -B8BITMIME -oem root", "[sendmail][flags]") {
  auto f = flags_of({"-FCronDaemon", "-i", "-B8BITMIME", "-oem", "root"});
  CHECK(f.mode == Mode::deliver);
  REQUIRE(f.full_name);
  CHECK(*f.full_name == "CronDaemon");
  CHECK(f.ignore_dots);
  CHECK(f.body == BodyType::eight_bit_mime);
  CHECK(f.recipients == std::vector<std::string>{"root"});
  REQUIRE(f.notes.size() == 1);  // -oem is ignored, with a note
  CHECK(f.notes[0].find("-oem ignored") != std::string::npos);
}

TEST_CASE("PHP's command line: -t -i -f sender, and values as the next word", "[sendmail][flags]") {
  auto f = flags_of({"-t", "-i", "-f", "sender@example.org"});
  CHECK(f.recipients_from_header);
  CHECK(f.ignore_dots);
  REQUIRE(f.sender);
  CHECK(*f.sender == "sender@example.org");
  CHECK(f.recipients.empty());
  CHECK(f.notes.empty());

  auto g = flags_of({"-F", "Cron Daemon", "-r", "x@y", "a@b"});
  CHECK(*g.full_name == "Cron Daemon");
  CHECK(*g.sender == "x@y");
  CHECK(g.recipients == std::vector<std::string>{"a@b"});
}

TEST_CASE("clustered flags, -oi, -- and the null sender", "[sendmail][flags]") {
  auto f = flags_of({"-tiv", "-oi", "-fsomeone", "--", "-strange@example.org"});
  CHECK(f.recipients_from_header);
  CHECK(f.ignore_dots);
  CHECK(f.verbose);
  CHECK(*f.sender == "someone");
  CHECK(f.recipients == std::vector<std::string>{"-strange@example.org"});
  CHECK(flags_of({"-f<>"}).sender == std::optional<std::string>("<>"));
  CHECK(flags_of({"-f", ""}).sender == std::optional<std::string>(""));
  CHECK(flags_of({"-ti", "x"}).ignore_dots);
}

TEST_CASE("modes: -bs, -bv, -bp, -bi, -I, -q, -bm, -bd", "[sendmail][flags]") {
  CHECK(flags_of({"-bs"}).mode == Mode::smtp);
  CHECK(flags_of({"-bv", "a@b"}).mode == Mode::verify);
  CHECK(flags_of({"-b", "v"}).mode == Mode::verify);
  CHECK(flags_of({"-bp"}).mode == Mode::print_queue);
  CHECK(flags_of({"-bi"}).mode == Mode::init_aliases);
  CHECK(flags_of({"-I"}).mode == Mode::init_aliases);
  CHECK(flags_of({"-bm", "x"}).mode == Mode::deliver);
  CHECK(flags_of({"-bd"}).mode == Mode::daemon);
  auto q = flags_of({"-q"});
  CHECK(q.mode == Mode::queue_run);
  CHECK(q.queue_argument.empty());
  auto q30 = flags_of({"-q30m"});
  CHECK(q30.mode == Mode::queue_run);
  CHECK(q30.queue_argument == "30m");
  CHECK(flags_of({"-qRexample.org"}).queue_argument == "Rexample.org");
  CHECK(error_of({"-bt"}).find("-bt is not supported") != std::string::npos);
}

TEST_CASE("DSN flags -N -R -V", "[sendmail][flags]") {
  using namespace imta::core;
  auto f = flags_of({"-N", "success,delay", "-RHDRS", "-V", "envid-1", "a@b"});
  CHECK(f.notify == (notify_success | notify_delay));
  CHECK(f.ret == Ret::hdrs);
  CHECK(f.envid == "envid-1");
  CHECK(flags_of({"-Nnever"}).notify == notify_never);
  CHECK(flags_of({"-N", "FAILURE"}).notify == notify_failure);
  CHECK(flags_of({"-Rfull"}).ret == Ret::full);
  CHECK(error_of({"-N", "sometimes"}).find("-N sometimes") != std::string::npos);
  CHECK(error_of({"-R", "body"}).find("-R body") != std::string::npos);
  CHECK(error_of({"-B", "BINARYMIME"}).find("-B BINARYMIME") != std::string::npos);
  CHECK(flags_of({"-B", "7bit"}).body == BodyType::seven_bit);
  CHECK(error_of({"-f"}) == "-f needs a value");
}

TEST_CASE("legacy and unknown flags are ignored with a note, never an error", "[sendmail][flags]") {
  auto f = flags_of({"-odb", "-oQ/var/spool", "-em", "-L", "label", "-h", "17", "-U", "-G", "-X", "/tmp/log",
                     "-C", "/etc/mail/sendmail.cf", "-O", "DeliveryMode=b", "-n", "-m", "-Z", "rcpt@example.org"});
  CHECK(f.mode == Mode::deliver);
  CHECK(f.recipients == std::vector<std::string>{"rcpt@example.org"});
  CHECK(f.notes.size() == 13);
  for (const auto& n : f.notes) CHECK(n.find(" ignored") != std::string::npos);
  CHECK(f.notes.back().find("-Z ignored (unknown flag)") != std::string::npos);
}

// ---- the end of the input --------------------------------------------------------

TEST_CASE("without -i a lone dot ends the message; -i keeps reading", "[sendmail][message]") {
  CHECK(cut_at_lone_dot("Subject: x\n\nbody\n.\nafter\n") == "Subject: x\n\nbody\n");
  CHECK(cut_at_lone_dot("a\r\n.\r\nb\r\n") == "a\r\n");
  CHECK(cut_at_lone_dot("a\n.") == "a\n");
  CHECK(cut_at_lone_dot("a\n..\nb\n") == "a\n..\nb\n");  // not a lone dot
  CHECK(cut_at_lone_dot("a\n. \nb\n") == "a\n. \nb\n");
  CHECK(cut_at_lone_dot(".\n") == "");
  // With -i the caller simply does not cut: the dot line stays in the body.
  auto m = split("Subject: x\n\nbody\n.\nafter\n");
  CHECK(m.body == "body\r\n.\r\nafter\r\n");
}

TEST_CASE("bare LF becomes CRLF; a mbox From line is dropped", "[sendmail][message]") {
  CHECK(imta::core::to_crlf("Subject: x\n\nline 1\nline 2") == "Subject: x\r\n\r\nline 1\r\nline 2\r\n");
  CHECK(imta::core::to_crlf("mixed\r\nends\nhere\r\n") == "mixed\r\nends\r\nhere\r\n");
  CHECK(skip_mbox_from_line("From alice Sat Nov 21 10:31:05 2026\nSubject: x\n") == "Subject: x\n");
  CHECK(skip_mbox_from_line("From: alice\n") == "From: alice\n");
}

// ---- the header -----------------------------------------------------------------

TEST_CASE("the header is split into fields, folded lines kept", "[sendmail][message]") {
  auto m = split("Subject: a\n long subject\nTo: bob@example.org\n\nbody\n");
  REQUIRE(m.fields.size() == 2);
  CHECK(m.fields[0].name == "Subject");
  CHECK(m.fields[0].text == "Subject: a\r\n long subject\r\n");
  CHECK(field_value(m.fields[0]) == "a long subject");
  CHECK(m.body == "body\r\n");
  CHECK(join_message(m) == "Subject: a\r\n long subject\r\nTo: bob@example.org\r\n\r\nbody\r\n");
}

TEST_CASE("a message without a header gets one; text that is no field starts the body", "[sendmail][message]") {
  auto bare = split("just a line of text\nand another\n");
  CHECK(bare.fields.empty());
  CHECK(bare.body == "just a line of text\r\nand another\r\n");
  auto mixed = split("Subject: hi\nthis is not a field\n");
  REQUIRE(mixed.fields.size() == 1);
  CHECK(mixed.body == "this is not a field\r\n");
  CHECK(join_message(mixed) == "Subject: hi\r\n\r\nthis is not a field\r\n");
  auto empty = split("");
  CHECK(empty.fields.empty());
  CHECK(join_message(empty) == "\r\n");
}

TEST_CASE("address lists: names, comments, groups, quotes", "[sendmail][message]") {
  CHECK(parse_address_list("bob@example.org") == std::vector<std::string>{"bob@example.org"});
  CHECK(parse_address_list("\"Smith, John\" <john@example.org>, carol@example.org (Carol)") ==
        std::vector<std::string>{"john@example.org", "carol@example.org"});
  CHECK(parse_address_list("friends: a@x.org, B <b@y.org>;, c@z.org") ==
        std::vector<std::string>{"a@x.org", "b@y.org", "c@z.org"});
  CHECK(parse_address_list("undisclosed-recipients:;").empty());
  CHECK(parse_address_list("<@relay.example:dave@example.org>") == std::vector<std::string>{"dave@example.org"});
  CHECK(parse_address_list("root") == std::vector<std::string>{"root"});
  CHECK(parse_address_list(" , ,") .empty());
  CHECK(parse_address_list("\"odd\\\"name\" <x@y.org>") == std::vector<std::string>{"x@y.org"});
}

TEST_CASE("-t: To, Cc and Bcc name the recipients, Bcc is removed", "[sendmail][message]") {
  auto m = split("From: web@example.org\nTo: Alice <alice@example.org>, bob@example.org\nCc: carol@example.org,\n"
                 " ALICE@example.org\nBcc: secret@example.org\nSubject: hi\n\nbody\n");
  CHECK(header_recipients(m) ==
        std::vector<std::string>{"alice@example.org", "bob@example.org", "carol@example.org", "secret@example.org"});
  remove_bcc(m);
  CHECK_FALSE(has_field(m, "Bcc"));
  auto text = join_message(m);
  CHECK(text.find("secret") == std::string::npos);
  CHECK(text.find("Subject: hi\r\n") != std::string::npos);
}

TEST_CASE("-t on a resent message uses the Resent- fields", "[sendmail][message]") {
  auto m = split("To: old@example.org\nResent-To: new@example.org\nResent-Bcc: hidden@example.org\n\nbody\n");
  CHECK(header_recipients(m) == std::vector<std::string>{"new@example.org", "hidden@example.org"});
  remove_bcc(m);
  CHECK_FALSE(has_field(m, "Resent-Bcc"));
  CHECK(has_field(m, "To"));
}

TEST_CASE("qualifying addresses and the null sender", "[sendmail][message]") {
  CHECK(qualify("root", "example.test") == "root@example.test");
  CHECK(qualify("bob@example.org", "example.test") == "bob@example.org");
  CHECK(qualify("<bob@example.org>", "example.test") == "bob@example.org");
  CHECK(qualify("<>", "example.test").empty());
  CHECK(qualify("", "example.test").empty());
}

TEST_CASE("Date, Message-ID and From are added when missing, From with -F", "[sendmail][message]") {
  MissingFields add{mailbox_text("CronDaemon", "root@example.test"), "Sat, 21 Nov 2026 10:31:05 +0000",
                    "<id1@mail.example.test>"};
  auto m = split("Subject: cron output\n\nhello\n");
  add_missing_fields(m, add);
  CHECK(join_message(m) ==
        "Subject: cron output\r\nFrom: CronDaemon <root@example.test>\r\nDate: Sat, 21 Nov 2026 10:31:05 +0000\r\n"
        "Message-ID: <id1@mail.example.test>\r\n\r\nhello\r\n");

  auto has_all = split("from: Me <me@x.org>\nDATE: Fri, 20 Nov 2026 10:00:00 +0000\nMessage-Id: <a@b>\n\nx\n");
  add_missing_fields(has_all, add);
  CHECK(has_all.fields.size() == 3);

  CHECK(mailbox_text("", "a@b") == "a@b");
  CHECK(mailbox_text("Cron Daemon", "a@b") == "Cron Daemon <a@b>");
  CHECK(mailbox_text("Smith, John", "a@b") == "\"Smith, John\" <a@b>");
  CHECK(mailbox_text("say \"hi\"", "a@b") == "\"say \\\"hi\\\"\" <a@b>");
}

TEST_CASE("the Received field names the local user", "[sendmail][message]") {
  LocalReceived r{"alice", 1000, "mail.example.test", "0QX5T3ZK", "bob@example.test",
                  "Sat, 21 Nov 2026 10:31:05 +0000"};
  CHECK(local_received_field(r) ==
        "Received: (from alice, uid 1000)\r\n\tby mail.example.test (imta sendmail) id 0QX5T3ZK\r\n"
        "\tfor <bob@example.test>;\r\n\tSat, 21 Nov 2026 10:31:05 +0000\r\n");
  r.for_address.clear();
  CHECK(local_received_field(r).find("for <") == std::string::npos);
  CHECK(authentication_warning_field("mail.example.test", "www-data", "boss@example.org") ==
        "X-Authentication-Warning: mail.example.test: www-data set sender to boss@example.org using -f\r\n");
}
