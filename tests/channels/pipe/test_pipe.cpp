// The pipe channel: its pure parts (addresses, exit statuses, argument
// templates, line ends), the program registry on a real SQLite file, and
// the master running real shell scripts on a temporary instance: the exact
// bytes a program receives, what each exit status becomes, the timeout, the
// user a program runs as under root, the environment.
#include <catch2/catch.hpp>

#include <pwd.h>
#include <signal.h>
#include <unistd.h>

#include "channels/pipe/child_process.hpp"
#include "channels/pipe/pipe_master.hpp"
#include "channels/pipe/program_registry.hpp"
#include "core/text.hpp"
#include "tests/channels/pipe/temp_instance.hpp"

using namespace imta;
using namespace imta::channels;
using namespace imta::channels::pipe;
using imta::testing::TempInstance;
using imta::testing::read_text;
using queue::RecipientStatus;

TEST_CASE("pipe addresses name a program and its argument", "[pipe]") {
  auto a = parse_pipe_address("bugtracker+support@pipe-daemon");
  CHECK(a.program == "bugtracker");
  CHECK(a.argument == "support");
  CHECK(a.has_argument);
  auto b = parse_pipe_address("Procmail@pipe-daemon");
  CHECK(b.program == "procmail");
  CHECK_FALSE(b.has_argument);
  auto c = parse_pipe_address("prog+a+b@pipe-daemon");
  CHECK(c.program == "prog");
  CHECK(c.argument == "a+b");
  auto d = parse_pipe_address("\"prog+x y\"@pipe-daemon");
  CHECK(d.program == "prog");
  CHECK(d.argument == "x y");
}

TEST_CASE("exit statuses 71, 74, 75 and 79 are temporary", "[pipe]") {
  for (int s : {71, 74, 75, 79}) CHECK(temporary_exit_status(s));
  for (int s : {0, 1, 2, 64, 65, 67, 69, 70, 72, 73, 76, 77, 78, 100, 255}) CHECK_FALSE(temporary_exit_status(s));
}

TEST_CASE("argument templates put the recipient into one argument", "[pipe]") {
  Program p;
  p.path = "/usr/bin/prog";
  p.arguments = "-d %s \"--tag=a b\" 100%% x%sy";
  CHECK(program_argv(p, "al ice;rm -rf") ==
        std::vector<std::string>{"/usr/bin/prog", "-d", "al ice;rm -rf", "--tag=a b", "100%", "xal ice;rm -rfy"});
  p.arguments = "";
  CHECK(program_argv(p, "x") == std::vector<std::string>{"/usr/bin/prog"});
  CHECK(arguments_problem("-d %s") == "");
  CHECK(arguments_problem("100%%") == "");
  CHECK(arguments_problem("%d") != "");
  CHECK(arguments_problem("trailing %") != "");
  CHECK(arguments_problem("\"open") == "unterminated double quote");
}

TEST_CASE("program names and paths are checked", "[pipe]") {
  CHECK(normalize_program_name("Bug.Tracker-2_x") == "bug.tracker-2_x");
  CHECK_FALSE(normalize_program_name(""));
  CHECK_FALSE(normalize_program_name("a/b"));
  CHECK_FALSE(normalize_program_name("a b"));
  CHECK_FALSE(normalize_program_name(std::string(65, 'a')));
  CHECK(program_path_problem("/bin/sh") == "");
  CHECK(program_path_problem("bin/sh") == "bin/sh: not an absolute path");
  CHECK(program_path_problem("/nonexistent/prog") == "/nonexistent/prog: no such file");
  CHECK(program_path_problem("/") == "/: not a regular file");
  TempInstance inst;
  auto plain = (inst.root / "plain.txt").string();
  std::ofstream(plain) << "text\n";
  CHECK(program_path_problem(plain) == plain + ": not executable");
}

TEST_CASE("line ends: LF for programs, CRLF back into the queue", "[pipe]") {
  CHECK(core::to_lf("a\r\nb\r\n\r\nc") == "a\nb\n\nc");
  CHECK(core::to_lf("bare\rcr\n") == "bare\rcr\n");
  CHECK(core::to_crlf("a\nb\r\nc") == "a\r\nb\r\nc\r\n");
  CHECK(core::to_crlf("") == "");
  CHECK(core::to_crlf("x\r") == "x\r\n");
  CHECK(first_line("\n  \n  first one \nsecond") == "first one");
  CHECK(first_line("tab\there\x01") == "tab here");
  CHECK(first_line(std::string(300, 'x')).size() == 200);
  CHECK(first_line("") == "");
}

TEST_CASE("the program registry stores, changes, lists and deletes", "[pipe]") {
  TempInstance inst;
  auto path = programs_db_path(core::Instance(inst.root));
  auto db = ProgramRegistry::open(path, {.create = true});
  CHECK(db.list().empty());
  Program p{"Writer", "/bin/cat", "-u %s", "", 30, 0};
  CHECK(db.add(p));
  CHECK_FALSE(db.add(p));
  auto found = db.find("WRITER");
  REQUIRE(found);
  CHECK(found->name == "writer");
  CHECK(found->path == "/bin/cat");
  CHECK(found->arguments == "-u %s");
  CHECK(found->timeout_s == 30);
  p.arguments = "";
  p.user = "nobody";
  CHECK(db.change(p));
  CHECK(db.find("writer")->user == "nobody");
  CHECK(db.list().size() == 1);
  CHECK(db.remove("writer"));
  CHECK_FALSE(db.remove("writer"));
  CHECK_FALSE(db.find("writer"));
  Program bad{"a/b", "/bin/cat", "", "", 30, 0};
  CHECK_THROWS_AS(db.add(bad), std::invalid_argument);
}

namespace {

/// A pipe-channel instance with programs registered.
struct PipeFixture {
  TempInstance inst;
  std::unique_ptr<queue::Master> master;

  PipeFixture() { inst.load(); }

  void add(const std::string& name, const std::string& path, const std::string& arguments, int timeout_s = 30) {
    auto db = ProgramRegistry::open(programs_db_path(*inst.instance), {.create = true});
    REQUIRE(db.add(Program{name, path, arguments, "", timeout_s, 0}));
  }

  queue::DeliveryReport deliver_to(const std::vector<std::string>& recipients) {
    auto file = inst.enqueue("pipe", testing::envelope("amy@example.org", recipients, "l"), testing::sample_message);
    master = make_master("pipe", inst.services);
    REQUIRE(master);
    return inst.deliver(*master, file);
  }
};

}  // namespace

TEST_CASE("a program gets the message on stdin and its arguments, byte for byte", "[pipe][master]") {
  PipeFixture f;
  auto out = (f.inst.root / "out").string();
  f.add("writer",
        f.inst.script("writer.sh", "for a in \"$@\"; do printf '[%s]' \"$a\"; done > " + out +
                                       "/args.$IMTA_ARGUMENT\ncat > " + out + "/stdin.$IMTA_ARGUMENT\n"),
        "-x %s \"two words\"");
  auto report = f.deliver_to({"writer+bob@pipe-daemon", "writer+carol@pipe-daemon"});
  REQUIRE(report.recipients.size() == 2);
  for (const auto& r : report.recipients) {
    INFO(r.log_diagnostics);
    CHECK(r.status == RecipientStatus::delivered);
  }
  CHECK(read_text(f.inst.root / "out/args.bob") == "[-x][bob][two words]");
  CHECK(read_text(f.inst.root / "out/args.carol") == "[-x][carol][two words]");
  const std::string expected =
      "From: amy@example.org\nTo: bert@example.test\nSubject: hello\nMessage-ID: <m1@example.org>\n\nline one\nline two\n";
  CHECK(read_text(f.inst.root / "out/stdin.bob") == expected);
  CHECK(read_text(f.inst.root / "out/stdin.carol") == expected);
}

TEST_CASE("without +ARG, %s is the original recipient; the environment says who and what", "[pipe][master]") {
  PipeFixture f;
  auto out = (f.inst.root / "out").string();
  f.add("envdump", f.inst.script("env.sh", "env | grep -E '^(IMTA_|USER=|PATH=)' | sort > " + out +
                                               "/env\nprintf '%s' \"$1\" > " + out + "/arg\nid -u > " + out + "/uid\n"),
        "%s");
  auto file = f.inst.enqueue("pipe",
                             [] {
                               auto env = testing::envelope("amy@example.org", {}, "l");
                               env.recipients.push_back({"envdump@pipe-daemon", "bugs@example.test", 0, ""});
                               return env;
                             }(),
                             testing::sample_message);
  f.master = make_master("pipe", f.inst.services);
  auto report = f.inst.deliver(*f.master, file);
  REQUIRE(report.recipients.size() == 1);
  INFO(report.recipients[0].log_diagnostics);
  CHECK(report.recipients[0].status == RecipientStatus::delivered);
  CHECK(read_text(f.inst.root / "out/arg") == "bugs@example.test");
  auto env = read_text(f.inst.root / "out/env");
  CHECK_THAT(env, Catch::Contains("IMTA_SENDER=amy@example.org\n"));
  CHECK_THAT(env, Catch::Contains("IMTA_RECIPIENT=envdump@pipe-daemon\n"));
  CHECK_THAT(env, Catch::Contains("IMTA_ORIGINAL_RECIPIENT=bugs@example.test\n"));
  CHECK_THAT(env, Catch::Contains("IMTA_PROGRAM=envdump\n"));
  CHECK_THAT(env, Catch::Contains("IMTA_MESSAGE_ID=<m1@example.org>\n"));
  CHECK_THAT(env, Catch::Contains("IMTA_QUEUE_ID=" + file.name.id + "\n"));
  CHECK_THAT(env, Catch::Contains("PATH=/usr/local/bin:/usr/bin:/bin\n"));
  // Under root the program runs as nobody; otherwise as ourselves.
  uid_t expected = ::geteuid();
  if (expected == 0) {
    const passwd* nobody = ::getpwnam("nobody");
    REQUIRE(nobody);
    expected = nobody->pw_uid;
  }
  CHECK(read_text(f.inst.root / "out/uid") == std::to_string(expected) + "\n");
}

TEST_CASE("exit statuses: 0 delivered, 71/74/75/79 deferred, others bounced with stderr", "[pipe][master]") {
  PipeFixture f;
  f.add("status", f.inst.script("status.sh", "cat > /dev/null\necho \"refused by the site: $1\" >&2\nexit $1\n"), "%s");
  auto report = f.deliver_to({"status+0@pipe-daemon", "status+75@pipe-daemon", "status+71@pipe-daemon",
                              "status+1@pipe-daemon", "status+67@pipe-daemon"});
  REQUIRE(report.recipients.size() == 5);
  CHECK(report.recipients[0].status == RecipientStatus::delivered);
  CHECK(report.recipients[1].status == RecipientStatus::deferred);
  CHECK(report.recipients[1].dsn_status == "4.3.0");
  CHECK(report.recipients[1].log_diagnostics == "program status exited with status 75: refused by the site: 75");
  CHECK(report.recipients[2].status == RecipientStatus::deferred);
  CHECK(report.recipients[3].status == RecipientStatus::bounced);
  CHECK(report.recipients[3].dsn_status == "5.3.0");
  CHECK(report.recipients[3].diagnostic_code == "x-unix; program status exited with status 1: refused by the site: 1");
  CHECK(report.recipients[4].status == RecipientStatus::bounced);
}

TEST_CASE("an unregistered program bounces; a vanished one is retried", "[pipe][master]") {
  PipeFixture f;
  auto gone = f.inst.script("gone.sh", "exit 0\n");
  f.add("gone", gone, "");
  std::filesystem::remove(gone);
  auto report = f.deliver_to({"nosuch+x@pipe-daemon", "gone@pipe-daemon"});
  REQUIRE(report.recipients.size() == 2);
  CHECK(report.recipients[0].status == RecipientStatus::bounced);
  CHECK(report.recipients[0].dsn_status == "5.1.1");
  CHECK_THAT(report.recipients[0].log_diagnostics, Catch::Contains("no such program: \"nosuch\""));
  CHECK(report.recipients[1].status == RecipientStatus::deferred);
  CHECK_THAT(report.recipients[1].log_diagnostics, Catch::Contains("could not be started: execve " + gone));
}

TEST_CASE("a program that runs too long is killed with its children and retried", "[pipe][master]") {
  PipeFixture f;
  auto out = (f.inst.root / "out").string();
  // The script starts a child that would write a file later: killing the
  // process group must take it too.
  f.add("slow", f.inst.script("slow.sh", "(sleep 3; touch " + out + "/survivor) &\nsleep 30\n"), "", 1);
  auto report = f.deliver_to({"slow@pipe-daemon"});
  REQUIRE(report.recipients.size() == 1);
  CHECK(report.recipients[0].status == RecipientStatus::deferred);
  CHECK(report.recipients[0].log_diagnostics == "program slow timed out after 1 s");
  ::sleep(3);
  CHECK_FALSE(std::filesystem::exists(f.inst.root / "out/survivor"));
}

TEST_CASE("run_child: output, errors, signals, start failures", "[pipe][child]") {
  ChildSpec spec;
  spec.argv = {"/bin/sh", "-c", "cat; echo err >&2; exit 3"};
  spec.input = "hello\n";
  spec.timeout = std::chrono::seconds(10);
  auto r = run_child(spec);
  CHECK(r.end == ChildResult::End::exited);
  CHECK(r.exit_code == 3);
  CHECK(r.output == "hello\n");
  CHECK(r.errors == "err\n");

  spec.argv = {"/bin/sh", "-c", "kill -TERM $$"};
  r = run_child(spec);
  CHECK(r.end == ChildResult::End::signaled);
  CHECK(r.signal == SIGTERM);

  spec.argv = {"/nonexistent/program"};
  r = run_child(spec);
  CHECK(r.end == ChildResult::End::start_failed);
  CHECK(r.error == "execve /nonexistent/program: No such file or directory");

  // Much more output than a pipe holds, and a program that reads no input.
  spec.argv = {"/bin/sh", "-c", "head -c 1000000 /dev/zero"};
  spec.input = std::string(200000, 'x');
  r = run_child(spec);
  CHECK(r.end == ChildResult::End::exited);
  CHECK(r.output.size() == 1000000);

  spec.max_output = 1000;
  r = run_child(spec);
  CHECK(r.end == ChildResult::End::output_too_large);
}
