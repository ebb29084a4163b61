// The job controller's scheduling, on a real queue with scripted masters and
// a clock the test steps: when files are offered (new at once, deferred
// ones only after their backoff), the ZZ -> ZY -> ZX renames and the Q
// records that name the file as it was tried, maxjobs, JOB_LIMIT,
// immediate vs periodic, held files, busy files, files that vanish.
#include "delivery_rig.hpp"

using namespace imta;
using namespace imta::queue;
using namespace imta::queue::testing;
using namespace std::chrono_literals;

namespace {

RecipientOutcome deferred(std::string text) {
  RecipientOutcome o;
  o.status = RecipientStatus::deferred;
  o.log_diagnostics = std::move(text);
  return o;
}

/// Slow deliveries with files waiting make two jobs of `fast` (threaddepth
/// 1, maxjobs 2); once the files are gone both linger (for as long as the
/// controller was started with).
void make_two_lingering_fast_jobs(Rig& rig, JobController& c) {
  auto reopen = rig.script.closed_gate();
  for (const char* who : {"one@x.test", "two@x.test", "three@x.test"})
    c.enqueued("fast", rig.enqueue("fast", {who}).path);
  REQUIRE(rig.script.wait_running(2));
  rig.script.open_gate();
  REQUIRE(rig.wait_empty("fast"));
}

}  // namespace

TEST_CASE("a new file is delivered at once and leaves the queue", "[jobs]") {
  Rig rig;
  auto& c = rig.start();
  auto f = rig.enqueue("fast", {"bob@fast.test"});
  c.enqueued("fast", f.path);
  c.wait_idle();
  CHECK(rig.script.tried_files() == std::vector<std::string>{"fast/" + f.name.str()});
  CHECK(rig.files("fast").empty());
  CHECK(c.cached() == 0);
  auto d = rig.log_matching(R"(^\S+ \S+ fast\s+D 1 adam@example.test rfc822;bob@fast.test bob@fast.test )");
  REQUIRE(d.size() == 1);
  CHECK(d[0].find("/queue/fast/" + f.name.str() + " <test.1@example.test> smtp;250 2.0.0 Ok") != std::string::npos);
  CHECK(rig.script.idles == 1);  // the job ended with nothing more to do
}

TEST_CASE("the start-up scan finds files enqueued while no controller ran", "[jobs]") {
  Rig rig;
  auto a = rig.enqueue("fast", {"a@fast.test"});
  auto b = rig.enqueue("l", {"b@example.test"});
  auto& c = rig.start();
  CHECK(c.scan() == 2);
  c.wait_idle();
  auto tried = rig.script.tried_files();
  std::sort(tried.begin(), tried.end());
  CHECK(tried == std::vector<std::string>{"fast/" + a.name.str(), "l/" + b.name.str()});
  CHECK(rig.files("fast").empty());
  CHECK(rig.files("l").empty());
}

TEST_CASE("deferred files wait for their backoff and are renamed ZZ, ZY, ZX", "[jobs]") {
  Rig rig;
  auto& c = rig.start();
  int attempt = 0;
  rig.script.outcome = [&](const core::Recipient&, const Claim&) {
    ++attempt;
    if (attempt == 1) return deferred("TCP active open: Failed connect()    Error: no route to host");
    if (attempt == 2) return deferred("TCP active open: Failed connect() Error: connection refused");
    RecipientOutcome ok;
    ok.status = RecipientStatus::delivered;
    ok.log_diagnostics = "dns;host.some.org (TCP|127.0.0.1|2788|127.0.0.2|25) (All set, fire away) smtp; 250 Ok";
    return ok;
  };
  auto f = rig.enqueue("retry", {"user@retry.test"}, "adam@hosta.example.test");
  const std::string id = f.name.id;
  c.enqueued("retry", f.path);
  c.wait_idle();
  CHECK(rig.files("retry") == std::vector<std::string>{"ZY" + id + ".00"});

  // backoff "pt5m" "pt10m": not before 5 minutes ...
  rig.step(4min + 59s);
  c.schedule();
  c.wait_idle();
  CHECK(attempt == 1);
  CHECK(c.next_due_ms() == rig.clock.load() + 1000);
  rig.step(1s);
  c.schedule();
  c.wait_idle();
  CHECK(attempt == 2);
  CHECK(rig.files("retry") == std::vector<std::string>{"ZX" + id + ".00"});

  // ... then 10 minutes, and the last interval repeats.
  rig.step(9min);
  c.schedule();
  c.wait_idle();
  CHECK(attempt == 2);
  rig.step(1min);
  c.schedule();
  c.wait_idle();
  CHECK(attempt == 3);
  CHECK(rig.files("retry").empty());

  // The seed's example 21-7: each Q names the file as it was when tried.
  auto lines = rig.log_matching(R"( retry\s+[QD] )");
  REQUIRE(lines.size() == 3);
  CHECK(std::regex_search(lines[0], std::regex(R"(retry\s+Q 1 adam@hosta.example.test rfc822;user@retry.test user@retry.test \S+/retry/ZZ)" + id + R"(\.00 <test.1@example.test> TCP active open: Failed connect\(\)    Error: no route to host$)")));
  CHECK(std::regex_search(lines[1], std::regex(R"(retry\s+Q 1 .*/retry/ZY)" + id + R"(\.00 .*connection refused$)")));
  CHECK(std::regex_search(lines[2], std::regex(R"(retry\s+D 1 .*/retry/ZX)" + id + R"(\.00 <test.1@example.test> dns;host.some.org .* smtp; 250 Ok$)")));
}

TEST_CASE("a channel without backoff keyword waits Sun's default table", "[jobs]") {
  Rig rig;
  auto& c = rig.start();
  int attempts = 0;
  rig.script.outcome = [&](const core::Recipient&, const Claim&) {
    ++attempts;
    return deferred("try later");
  };
  auto f = rig.enqueue("fast", {"x@fast.test"});
  c.enqueued("fast", f.path);
  c.wait_idle();
  REQUIRE(attempts == 1);
  rig.step(59min);  // normal priority: 60 minutes after the first failure
  c.schedule();
  c.wait_idle();
  CHECK(attempts == 1);
  rig.step(1min);
  c.schedule();
  c.wait_idle();
  CHECK(attempts == 2);
  rig.step(119min);  // then 120
  c.schedule();
  c.wait_idle();
  CHECK(attempts == 2);
  rig.step(1min);
  c.schedule();
  c.wait_idle();
  CHECK(attempts == 3);
}

TEST_CASE("an exception from the master defers every recipient with its text", "[jobs]") {
  Rig rig;
  auto& c = rig.start();
  rig.script.throw_text = "resolver exploded";
  auto f = rig.enqueue("retry", {"a@retry.test", "b@retry.test"});
  c.enqueued("retry", f.path);
  c.wait_idle();
  CHECK(rig.files("retry") == std::vector<std::string>{"ZY" + f.name.id + ".00"});
  auto q = rig.log_matching(R"(retry\s+Q 1 .* delivery failed: resolver exploded$)");
  CHECK(q.size() == 2);
}

TEST_CASE("maxjobs caps the jobs of a channel", "[jobs]") {
  Rig rig;
  auto& c = rig.start();
  rig.script.close_gate();
  for (int i = 0; i < 6; ++i) {
    auto f = rig.enqueue("fast", {"u" + std::to_string(i) + "@fast.test"});
    c.enqueued("fast", f.path);
  }
  REQUIRE(rig.script.wait_running(2));
  c.schedule();
  CHECK(c.jobs().size() == 2);  // maxjobs 2, although threaddepth 1 would want six
  for (const auto& j : c.jobs()) CHECK(j.threads == 1);  // not an SMTP channel: one delivery per job
  // The due files wait for the running jobs: nothing for the daemon's loop
  // to wake up for (it would spin).
  CHECK(!c.next_due_ms());
  for (const auto& j : c.jobs()) {
    CHECK(j.channel == "fast");
    CHECK(j.pool == "DEFAULT");
    CHECK(j.delivering.size() == 1);
  }
  rig.script.open_gate();
  c.wait_idle();
  CHECK(rig.script.most_running == 2);
  CHECK(rig.script.tried_files().size() == 6);
  CHECK(rig.files("fast").empty());
}

TEST_CASE("an SMTP channel's job runs one delivery per threaddepth due files, up to MAX_CLIENT_THREADS", "[jobs]") {
  Rig rig;
  auto& c = rig.start();
  rig.script.close_gate();
  // tcp_local: smtp, maxjobs 1, threaddepth 10 (the default),
  // MAX_CLIENT_THREADS 10 (the default).
  auto enqueue = [&](int n) {
    static int next = 0;
    for (int i = 0; i < n; ++i) {
      auto f = rig.enqueue("tcp_local", {"u" + std::to_string(next++) + "@remote.test"});
      c.enqueued("tcp_local", f.path);
    }
  };
  enqueue(35);
  REQUIRE(rig.script.wait_running(4));
  c.schedule();
  auto jobs = c.jobs();
  REQUIRE(jobs.size() == 1);
  CHECK(jobs[0].threads == 4);  // 35 due: four deliveries at once, one job
  CHECK(jobs[0].delivering.size() == 4);
  enqueue(150);
  REQUIRE(rig.script.wait_running(10));
  c.schedule();
  jobs = c.jobs();
  REQUIRE(jobs.size() == 1);    // maxjobs 1
  CHECK(jobs[0].threads == 10);  // capped by MAX_CLIENT_THREADS
  CHECK(jobs[0].delivering.size() == 10);
  rig.script.open_gate();
  c.wait_idle();
  CHECK(rig.script.most_running == 10);
  CHECK(rig.script.tried_files().size() == 185);
  CHECK(rig.files("tcp_local").empty());
}

TEST_CASE("filesperjob caps the files a job's threads take together", "[jobs]") {
  std::string cnf = kImtaCnf;
  const std::string line = "tcp_local smtp backoff \"pt5m\" \"pt10m\" maxjobs 1";
  REQUIRE(cnf.find(line) != std::string::npos);
  cnf.replace(cnf.find(line), line.size(), line + " threaddepth 1 filesperjob 2");
  Rig rig(cnf);
  auto& c = rig.start();
  auto reopen = rig.script.closed_gate();
  for (int i = 0; i < 6; ++i)
    c.enqueued("tcp_local", rig.enqueue("tcp_local", {"r" + std::to_string(i) + "@x.test"}).path);
  // One file per thread (threaddepth 1), but the job may take two files in
  // all, and maxjobs 1 lets no second job start while it runs.
  REQUIRE(rig.script.wait_running(2));
  std::this_thread::sleep_for(300ms);
  c.schedule();
  std::this_thread::sleep_for(100ms);
  {
    std::lock_guard lock(rig.script.mutex);
    CHECK(rig.script.most_running == 2);
  }
  rig.script.open_gate();
  // Then job after job, two files each, until all six are out.
  for (int i = 0; i < 400 && !rig.files("tcp_local").empty(); ++i) {
    c.schedule();
    std::this_thread::sleep_for(10ms);
  }
  CHECK(rig.files("tcp_local").empty());
  c.stop();
  CHECK(rig.script.tried_files().size() == 6);
}

TEST_CASE("a pool's JOB_LIMIT caps the jobs of all its channels together", "[jobs]") {
  Rig rig;
  auto& c = rig.start();
  rig.script.close_gate();
  for (int i = 0; i < 5; ++i) {
    c.enqueued("alpha", rig.enqueue("alpha", {"a" + std::to_string(i) + "@alpha.test"}).path);
    c.enqueued("beta", rig.enqueue("beta", {"b" + std::to_string(i) + "@beta.test"}).path);
  }
  REQUIRE(rig.script.wait_running(3));
  c.schedule();
  auto jobs = c.jobs();
  CHECK(jobs.size() == 3);  // JOB_LIMIT=3 of pool SHARED; each channel alone may run 5
  std::set<std::string> channels;
  for (const auto& j : jobs) channels.insert(j.channel);
  CHECK(channels == std::set<std::string>{"alpha", "beta"});  // the pool is shared, not taken by one
  rig.script.open_gate();
  c.wait_idle();
  CHECK(rig.script.most_running == 3);
  CHECK(rig.script.tried_files().size() == 10);
}

TEST_CASE("a periodic channel runs on the sweep or when submitted, not on arrival", "[jobs]") {
  Rig rig;
  auto& c = rig.start();
  auto f = rig.enqueue("slow", {"s@slow.test"});
  c.enqueued("slow", f.path);
  c.schedule();
  c.wait_idle();
  CHECK(rig.script.tried_files().empty());
  CHECK(rig.files("slow").size() == 1);
  CHECK(!c.next_due_ms());  // nothing to wake up for
  auto summary = c.summary();
  REQUIRE(summary.size() == 1);
  CHECK(!summary[0].immediate);

  c.submit("slow");
  c.wait_idle();
  CHECK(rig.script.tried_files().size() == 1);
  CHECK(rig.files("slow").empty());

  // The periodic sweep (every rescan) runs it too.
  auto g = rig.enqueue("slow", {"t@slow.test"});
  c.enqueued("slow", g.path);
  c.wait_idle();
  CHECK(rig.script.tried_files().size() == 1);
  c.scan();
  c.wait_idle();
  CHECK(rig.script.tried_files().size() == 2);
}

TEST_CASE("held files are never offered", "[jobs]") {
  Rig rig;
  auto held = rig.enqueue("fast", {"h@fast.test"});
  auto entry = rig.store->find(held.name.id, "fast");
  REQUIRE(entry);
  REQUIRE(rig.store->hold(*entry).ok);
  auto& c = rig.start();
  CHECK(c.scan() == 0);
  QueueFileName name = held.name;
  name.held = true;
  c.enqueued("fast", fs::path(held.path).parent_path() / name.str());  // a notification naming it: ignored
  c.submit("");
  c.wait_idle();
  CHECK(rig.script.tried_files().empty());
  CHECK(rig.files("fast") == std::vector<std::string>{name.str()});
  CHECK(c.files("").empty());
}

TEST_CASE("a file another program is delivering is skipped and tried again later", "[jobs]") {
  Rig rig;
  auto& c = rig.start();
  auto f = rig.enqueue("fast", {"busy@fast.test"});
  auto entry = rig.store->find(f.name.id, "fast");
  REQUIRE(entry);
  {
    auto mine = rig.store->claim(*entry);
    REQUIRE(mine);
    c.enqueued("fast", f.path);
    c.wait_idle();
    CHECK(rig.script.tried_files().empty());
  }
  CHECK(rig.files("fast").size() == 1);  // untouched: still ZZ
  rig.step(30s);
  c.schedule();
  c.wait_idle();
  CHECK(rig.script.tried_files().empty());
  rig.step(30s);  // a minute after the busy claim
  c.schedule();
  c.wait_idle();
  CHECK(rig.script.tried_files().size() == 1);
  CHECK(rig.files("fast").empty());
}

TEST_CASE("a file tried and renamed by someone else is followed under its new name", "[jobs]") {
  Rig rig;
  auto& c = rig.start();
  rig.script.close_gate();
  // Keep the only `retry` job busy with another file while `imta run` (here:
  // the test) tries the cached one and renames it ZZ -> ZY.
  c.enqueued("retry", rig.enqueue("retry", {"first@retry.test"}).path);
  REQUIRE(rig.script.wait_running(1));
  auto f = rig.enqueue("retry", {"second@retry.test"});
  c.enqueued("retry", f.path);
  {
    auto entry = rig.store->find(f.name.id, "retry");
    REQUIRE(entry);
    auto claim = rig.store->claim(*entry);
    REQUIRE(claim);
    REQUIRE(rig.store->retry(*claim, {}).ok);
  }
  rig.script.open_gate();
  c.wait_idle();
  // The job found ZZ gone, looked the id up and now waits out ZY's backoff.
  auto cached = c.files("retry");
  REQUIRE(cached.size() == 1);
  CHECK(cached[0].name.str() == "ZY" + f.name.id + ".00");
  rig.step(5min + 1s);
  c.schedule();
  c.wait_idle();
  CHECK(rig.files("retry").empty());
}

TEST_CASE("the rescan forgets files removed behind the controller's back", "[jobs]") {
  Rig rig;
  auto& c = rig.start();
  auto f = rig.enqueue("slow", {"gone@slow.test"});
  auto g = rig.enqueue("slow", {"stays@slow.test"});
  c.enqueued("slow", f.path);
  c.enqueued("slow", g.path);
  CHECK(c.cached() == 2);
  fs::remove(f.path);
  rig.script.close_gate();  // the sweep of scan() starts a job for the other one
  CHECK(c.scan() == 1);
  rig.script.open_gate();
  c.wait_idle();
  CHECK(rig.script.tried_files() == std::vector<std::string>{"slow/" + g.name.str()});
}

TEST_CASE("a channel without a master keeps its files", "[jobs]") {
  Rig rig;
  auto& c = rig.start();
  auto f = rig.enqueue("nomaster", {"n@none.test"});
  c.enqueued("nomaster", f.path);
  c.wait_idle();
  CHECK(rig.files("nomaster").size() == 1);
  auto summary = c.summary();
  REQUIRE(summary.size() == 1);
  CHECK(!summary[0].has_master);
  CHECK(!c.next_due_ms());
  std::lock_guard lock(rig.events_mutex);
  REQUIRE(!rig.events.empty());
  CHECK(rig.events.back().find("channel nomaster has no master") != std::string::npos);
}

TEST_CASE("stop lets a running job finish its file, then no more start", "[jobs]") {
  Rig rig;
  auto& c = rig.start();
  rig.script.close_gate();
  for (int i = 0; i < 3; ++i) c.enqueued("tcp_local", rig.enqueue("tcp_local", {std::to_string(i) + "@x.test"}).path);
  REQUIRE(rig.script.wait_running(1));
  std::thread stopper([&] { c.stop(); });
  std::this_thread::sleep_for(50ms);  // let stop() begin waiting (not a timing assertion)
  rig.script.open_gate();
  stopper.join();
  CHECK(rig.script.tried_files().size() == 1);  // maxjobs 1: one job, one file, then it stopped
  CHECK(rig.files("tcp_local").size() == 2);
  c.enqueued("tcp_local", rig.enqueue("tcp_local", {"late@x.test"}).path);
  c.schedule();
  CHECK(c.jobs().empty());
}

TEST_CASE("a job lingers for files that arrive just after it ran out", "[jobs]") {
  Rig rig;
  auto& c = rig.start(std::chrono::milliseconds(5000));
  c.enqueued("tcp_local", rig.enqueue("tcp_local", {"one@x.test"}).path);
  // The job is lingering (or still busy with the first file): the second
  // file goes to it rather than to a new job.
  c.enqueued("tcp_local", rig.enqueue("tcp_local", {"two@x.test"}).path);
  std::thread stopper([&] {
    // Ends the linger once both are done.
    for (int i = 0; i < 400 && rig.files("tcp_local").size() > 0; ++i) std::this_thread::sleep_for(50ms);
    c.stop();
  });
  stopper.join();
  CHECK(rig.script.tried_files().size() == 2);
  CHECK(rig.script.idles == 1);  // one job, one master
}

TEST_CASE("lingering jobs woken for a file that another one takes go on lingering", "[jobs]") {
  Rig rig;
  auto& c = rig.start(std::chrono::milliseconds(5000));
  make_two_lingering_fast_jobs(rig, c);
  REQUIRE(c.jobs().size() == 2);
  // One file each time: one job takes it; the other, if woken at all, must
  // not end (and drop its master and connection) just because it lost.
  for (const char* who : {"four@x.test", "five@x.test"}) {
    std::this_thread::sleep_for(50ms);
    c.enqueued("fast", rig.enqueue("fast", {who}).path);
    REQUIRE(rig.wait_empty("fast"));
  }
  std::this_thread::sleep_for(200ms);
  CHECK(rig.script.idle_calls() == 0);
  CHECK(c.jobs().size() == 2);
  c.stop();
  CHECK(rig.script.tried_files().size() == 5);
  CHECK(rig.script.idle_calls() == 2);
}

TEST_CASE("a new file wakes a lingering thread of its own channel, not another channel's", "[jobs]") {
  Rig rig;
  auto& c = rig.start(std::chrono::milliseconds(5000));
  // Two lingering jobs of `fast` and one of `beta`.
  make_two_lingering_fast_jobs(rig, c);
  c.enqueued("beta", rig.enqueue("beta", {"b0@x.test"}).path);
  REQUIRE(rig.wait_empty("beta"));
  // Each new beta file is delivered while every thread still lingers (5 s):
  // the wake-up goes to beta's thread. Had it gone to one of fast's, the
  // file would wait until beta's thread gave up lingering.
  for (const char* who : {"b1@x.test", "b2@x.test", "b3@x.test"}) {
    std::this_thread::sleep_for(50ms);
    c.enqueued("beta", rig.enqueue("beta", {who}).path);
    CHECK(rig.wait_empty("beta"));  // within 4 s
  }
  CHECK(c.jobs().size() == 3);
  c.stop();
  CHECK(rig.script.tried_files().size() == 7);
}

TEST_CASE("imta cache -view's data: files, attempts and due times", "[jobs]") {
  Rig rig;
  auto& c = rig.start();
  rig.script.outcome = [](const core::Recipient&, const Claim&) { return deferred("later"); };
  auto f = rig.enqueue("retry", {"v@retry.test"});
  auto g = rig.enqueue("slow", {"w@slow.test"});
  c.enqueued("retry", f.path);
  c.enqueued("slow", g.path);
  c.wait_idle();
  auto files = c.files("");
  REQUIRE(files.size() == 2);
  CHECK(files[0].channel == "retry");
  CHECK(files[0].name.str() == "ZY" + f.name.id + ".00");
  CHECK(files[0].name.attempts == 1);
  CHECK(files[0].due_ms == rig.clock.load() + 5 * 60 * 1000);
  CHECK(files[1].channel == "slow");
  CHECK(files[1].name.attempts == 0);
  CHECK(c.files("slow").size() == 1);
}

TEST_CASE("notifications read together are added in one call; a submit line runs its channel", "[jobs]") {
  Rig rig;
  auto& c = rig.start();
  auto a = rig.enqueue("fast", {"a@fast.test"});
  auto b = rig.enqueue("fast", {"b@fast.test"});
  auto slow = rig.enqueue("slow", {"s@slow.test"});  // periodic
  auto notes = imta::queue::parse_notifications("fast\t" + a.path + "\nfast\t" + b.path +
                                                "\nslow\t" + slow.path + "\nbogus line\n");
  REQUIRE(notes.size() == 3);
  c.enqueued(notes);
  c.wait_idle();
  CHECK(rig.files("fast").empty());
  CHECK(rig.files("slow").size() == 1);  // periodic: waits
  c.enqueued(imta::queue::parse_notifications("submit slow\n"));
  c.wait_idle();
  CHECK(rig.files("slow").empty());
  CHECK(rig.script.tried_files().size() == 3);
}

TEST_CASE("a notification with a relative path finds the file in its channel and subfolder", "[jobs]") {
  Rig rig;
  auto& c = rig.start();
  auto f = rig.enqueue("slow", {"rel@slow.test"});  // periodic: waits for submit
  // As an SMTP server started with --root relative would send it.
  c.enqueued("slow", fs::path("inst") / "queue" / "slow" / f.name.str());
  auto cached = c.files("slow");
  REQUIRE(cached.size() == 1);
  CHECK(cached[0].path == f.path);
  c.submit("slow");
  c.wait_idle();
  CHECK(rig.files("slow").empty());
  CHECK(rig.script.tried_files().size() == 1);

  // A `subdirs` channel: the file is in a numbered subfolder.
  auto g = rig.enqueue("deep", {"sub@deep.test"});
  REQUIRE(fs::path(g.path).parent_path().filename() != "deep");
  c.enqueued("deep", fs::path("inst") / "queue" / "deep" / fs::path(g.path).parent_path().filename() / g.name.str());
  cached = c.files("deep");
  REQUIRE(cached.size() == 1);
  CHECK(cached[0].path == g.path);
  c.scan();  // the same file found by the scan: still one entry; the sweep runs it
  c.wait_idle();
  CHECK(rig.files("deep").empty());
  CHECK(rig.script.tried_files().size() == 2);
}
