// The queue cache alone: due-time order, the ready FIFO, requeue, removal,
// the id index through growth and tombstones, long ids, forgetting files a
// scan no longer sees.
#include <catch2/catch.hpp>

#include <random>
#include <set>

#include "queue/job_cache.hpp"

using namespace imta::queue;

namespace {

QueueFileName name(std::string id, unsigned attempts = 0) {
  QueueFileName n;
  n.id = std::move(id);
  n.attempts = attempts;
  return n;
}

std::vector<std::string> take_all(ChannelCache& c) {
  std::vector<std::string> out;
  while (auto s = c.take_ready()) out.push_back(c.name_of(*s).id);
  return out;
}

}  // namespace

TEST_CASE("files become ready in due order, never before they are due", "[cache]") {
  ChannelCache c("tcp_local", "/q/tcp_local");
  CHECK(c.add(name("C"), "", 300, 0) == ChannelCache::Added::added);
  CHECK(c.add(name("A"), "", 100, 0) == ChannelCache::Added::added);
  CHECK(c.add(name("B"), "", 200, 0) == ChannelCache::Added::added);
  CHECK(c.size() == 3);
  CHECK(c.next_due() == 100);
  c.promote(99);
  CHECK(c.ready_count() == 0);
  CHECK(!c.take_ready());
  c.promote(200);
  CHECK(c.ready_count() == 2);
  CHECK(take_all(c) == std::vector<std::string>{"A", "B"});
  CHECK(c.running_count() == 2);
  CHECK(c.next_due() == 300);
}

TEST_CASE("a requeued file waits again under its new name", "[cache]") {
  ChannelCache c("retry", "/q/retry");
  c.add(name("X"), "", 0, 0);
  c.promote(10);
  auto s = c.take_ready();
  REQUIRE(s);
  CHECK(c.state_of(*s) == FileState::running);
  c.requeue(*s, name("X", 1), 5000, 0);
  CHECK(c.path_of(*s) == "/q/retry/ZYX.00");
  c.promote(4999);
  CHECK(!c.take_ready());
  c.promote(5000);
  CHECK(c.take_ready() == s);
}

TEST_CASE("a scan's news: a new name from someone else's attempt, a running file left alone", "[cache]") {
  ChannelCache c("retry", "/q/retry");
  c.add(name("W"), "", 0, 1);
  c.add(name("R"), "", 0, 1);
  CHECK(c.add(name("W"), "", 0, 2) == ChannelCache::Added::unchanged);
  CHECK(c.add(name("W", 1), "", 9000, 2) == ChannelCache::Added::updated);
  c.promote(100);
  auto s = c.take_ready();
  REQUIRE(s);
  CHECK(c.name_of(*s).id == "R");
  CHECK(c.add(name("R", 3), "", 0, 2) == ChannelCache::Added::running);
  CHECK(c.name_of(*s).attempts == 0);  // the job will tell
  CHECK(c.next_due() == 9000);
}

TEST_CASE("forget_unseen drops waiting files the last scan did not see", "[cache]") {
  ChannelCache c("l", "/q/l");
  c.add(name("A"), "", 0, 1);
  c.add(name("B"), "", 50, 1);
  c.add(name("C"), "", 0, 1);
  c.promote(0);
  auto running = c.take_ready();  // A
  REQUIRE(running);
  c.add(name("C"), "", 0, 2);  // seen again
  CHECK(c.forget_unseen(2) == 1);  // B; A is running, C was seen
  CHECK(c.size() == 2);
  CHECK(!c.find("B"));
  CHECK(c.find("C"));
  CHECK(c.next_due() == std::nullopt);  // B's heap item is gone; C is ready
  CHECK(take_all(c) == std::vector<std::string>{"C"});
}

TEST_CASE("subfolders and long ids are kept", "[cache]") {
  ChannelCache c("big", "/q/big");
  const std::string long_id(40, 'K');
  c.add(name(long_id), "007", 0, 0);
  c.add(name("SHORT"), "", 0, 0);
  auto s = c.find(long_id);
  REQUIRE(s);
  CHECK(c.path_of(*s) == "/q/big/007/ZZ" + long_id + ".00");
  CHECK(c.path_of(*c.find("SHORT")) == "/q/big/ZZSHORT.00");
  c.remove(*s);
  CHECK(!c.find(long_id));
  CHECK(c.size() == 1);
}

TEST_CASE("the index holds through growth, removals and slot reuse", "[cache]") {
  ChannelCache c("many", "/q/many");
  std::mt19937 rng(7);
  std::set<std::string> live;
  auto id = [](int n) { return "ID" + std::to_string(n); };
  for (int i = 0; i < 20000; ++i) {
    c.add(name(id(i)), "", i, 0);
    live.insert(id(i));
    if (i % 3 == 0) {  // remove an earlier one now and then
      int victim = static_cast<int>(rng() % static_cast<unsigned>(i + 1));
      if (auto s = c.find(id(victim))) {
        c.remove(*s);
        live.erase(id(victim));
      }
    }
  }
  CHECK(c.size() == live.size());
  for (int i = 0; i < 20000; ++i) CHECK(static_cast<bool>(c.find(id(i))) == live.contains(id(i)));
  c.promote(1'000'000);
  std::vector<std::string> order = take_all(c);
  CHECK(order.size() == live.size());
  // Due times were the insertion numbers: the FIFO is in due order.
  for (std::size_t i = 1; i < order.size(); ++i) CHECK(std::stoi(order[i - 1].substr(2)) < std::stoi(order[i].substr(2)));
}
