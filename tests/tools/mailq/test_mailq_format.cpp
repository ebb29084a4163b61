// Unit tests of mailq(1)'s text (tools/sendmail/mailq_format.hpp): the
// columns, the marks, the error lines, the trailer arithmetic. The program
// itself is tested end to end in test_mailq.py.
#include <catch2/catch.hpp>
#include <cstdlib>
#include <ctime>

#include "tools/sendmail/mailq_format.hpp"

using namespace imta::tools::sendmail;

namespace {

MailqEntry entry(std::string id, char mark, std::uint64_t size, std::string sender,
                 std::vector<MailqRecipient> recipients) {
  MailqEntry e;
  e.id = std::move(id);
  e.mark = mark;
  e.size = size;
  e.arrival = "Sat Nov 21 17:10:22";
  e.sender = std::move(sender);
  e.recipients = std::move(recipients);
  return e;
}

}  // namespace

TEST_CASE("an empty queue says so and nothing else", "[mailq]") {
  CHECK(format_mailq({}) == "Mail queue is empty\n");
}

TEST_CASE("the trailer rounds the total up to whole Kbytes and counts requests", "[mailq]") {
  CHECK(mailq_trailer(0, 0) == "-- 0 Kbytes in 0 Requests.");
  CHECK(mailq_trailer(1, 1) == "-- 1 Kbytes in 1 Request.");
  CHECK(mailq_trailer(1024, 2) == "-- 1 Kbytes in 2 Requests.");
  CHECK(mailq_trailer(1025, 2) == "-- 2 Kbytes in 2 Requests.");
  CHECK(mailq_trailer(10ull * 1024 * 1024 * 1024, 3) == "-- 10485760 Kbytes in 3 Requests.");
}

TEST_CASE("one request: header, the id with its columns, the indented recipient, a blank line, the trailer",
          "[mailq]") {
  const std::string id = "0123456789ABCDEFGH";  // 18 characters, as new_queue_id() makes them
  auto text = format_mailq({entry(id, ' ', 475, "root@example.test", {{"bob@example.net", ""}})});
  // ID column: 18 + 1 for the mark; then size (8), arrival (20), sender.
  const std::string indent(19 + 1 + 8 + 1 + 20 + 1, ' ');
  CHECK(text ==
        "-Queue ID-          --Size-- ----Arrival Time---- -Sender/Recipient-------\n"
        "0123456789ABCDEFGH       475 Sat Nov 21 17:10:22  root@example.test\n" +
            indent + "bob@example.net\n"
                     "\n"
                     "-- 1 Kbytes in 1 Request.\n");
}

TEST_CASE("marks, the null sender, and error lines before the recipients they concern", "[mailq]") {
  std::vector<MailqEntry> entries = {
      entry("AAAA", '*', 2048, "", {{"a@x.test", ""}}),
      entry("BBBB", '!', 10, "s@y.test", {{"b@x.test", "451 4.7.1 later"}, {"c@x.test", "451 4.7.1 later"},
                                          {"d@x.test", "550 5.1.1 no such user"}, {"e@x.test", ""}}),
  };
  entries[1].detail = "channel tcp_local, 1 attempt, held";
  const std::string indent(11 + 1 + 8 + 1 + 20 + 1, ' ');
  CHECK(format_mailq(entries) ==
        "-Queue ID-  --Size-- ----Arrival Time---- -Sender/Recipient-------\n"
        "AAAA*           2048 Sat Nov 21 17:10:22  MAILER-DAEMON\n" +
            indent + "a@x.test\n"
                     "\n"
                     "BBBB!             10 Sat Nov 21 17:10:22  s@y.test\n"
                     "(451 4.7.1 later)\n" +
            indent + "b@x.test\n" + indent + "c@x.test\n" +
            "(550 5.1.1 no such user)\n" + indent + "d@x.test\n" + indent + "e@x.test\n" + indent +
            "[channel tcp_local, 1 attempt, held]\n"
            "\n"
            "-- 3 Kbytes in 2 Requests.\n");
}

TEST_CASE("a multi-line diagnostic stays on one line", "[mailq]") {
  auto text = format_mailq({entry("ID", ' ', 1, "s@y.test", {{"b@x.test", "451-4.7.1 first\r\n451 4.7.1 second\r\n"}})});
  CHECK(text.find("(451-4.7.1 first 451 4.7.1 second)\n") != std::string::npos);
}

TEST_CASE("arrival times read like asctime without the year", "[mailq]") {
  ::setenv("TZ", "UTC", 1);
  ::tzset();
  CHECK(arrival_text(1795000000) == "Wed Nov 18 11:06:40");  // date -u -d @1795000000
  CHECK(arrival_text(1793869200) == "Thu Nov  5 09:00:00");  // a one-digit day is space-padded
}
