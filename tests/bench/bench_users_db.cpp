// Benchmark: what the SMTP server pays per recipient check and per AUTH.
// Builds a temporary users database of N users, then prints lookups per
// second (one thread, and one connection per thread on several threads) and
// milliseconds per password check. Asserts nothing.
//
//   bench_users_db [USERS] [THREADS]      (defaults 10000, 4)
#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <string>
#include <thread>
#include <vector>

#include "core/password_hash.hpp"
#include "core/sqlite.hpp"
#include "core/users_db.hpp"

using namespace imta::core;
namespace fs = std::filesystem;
using Clock = std::chrono::steady_clock;

namespace {

double seconds_since(Clock::time_point start) {
  return std::chrono::duration<double>(Clock::now() - start).count();
}

/// Half the users are full addresses, half bare names, no passwords (the
/// bulk insert would otherwise be all scrypt).
void fill(const fs::path& path, int users) {
  { UsersDb::open(path, {.create = true}); }
  auto raw = sqlite::Connection::open(path, {});
  sqlite::Transaction transaction(raw);
  auto insert = raw.prepare("INSERT INTO users (name, password_hash, enabled, created) VALUES (?1, NULL, 1, 0)");
  for (int i = 0; i < users; ++i) {
    sqlite::Statement::Use use(insert);
    use->bind(1, i % 2 ? "user" + std::to_string(i) + "@example.test" : "user" + std::to_string(i));
    use->run();
  }
  transaction.commit();
}

/// Looks up `count` recipients, cycling through found-by-address,
/// found-by-local-part and unknown. Returns how many were found.
int lookups(UsersDb& db, int users, int count, int seed) {
  const std::vector<std::string> local = {"example.org", "example.test"};
  int found = 0;
  for (int i = 0; i < count; ++i) {
    int n = (i * 7919 + seed) % users;
    std::string address = (i % 3 == 2 ? "nobody" : "user") + std::to_string(n) + "@example.test";
    found += db.exists(address, local);
  }
  return found;
}

}  // namespace

int main(int argc, char** argv) {
  int users = argc > 1 ? std::atoi(argv[1]) : 10000;
  int threads = argc > 2 ? std::atoi(argv[2]) : 4;
  if (users < 1 || threads < 1) {
    std::fprintf(stderr, "usage: bench_users_db [USERS] [THREADS]\n");
    return 2;
  }
  std::string dir = (fs::temp_directory_path() / "imta-bench-users-XXXXXX").string();
  if (!::mkdtemp(dir.data())) return 1;
  auto path = fs::path(dir) / "users.sqlite";
  fill(path, users);

  constexpr int per_thread = 200'000;
  {
    auto db = UsersDb::open(path, {});
    auto start = Clock::now();
    int found = lookups(db, users, per_thread, 1);
    double s = seconds_since(start);
    std::printf("recipient lookups, 1 thread, %d users: %.0f/s (%.1f us each; %d of %d found)\n", users,
                per_thread / s, s / per_thread * 1e6, found, per_thread);
  }
  {
    std::vector<std::thread> workers;
    auto start = Clock::now();
    for (int t = 0; t < threads; ++t)
      workers.emplace_back([&, t] {
        auto db = UsersDb::open(path, {});
        lookups(db, users, per_thread, t);
      });
    for (auto& w : workers) w.join();
    double s = seconds_since(start);
    std::printf("recipient lookups, %d threads (one connection each): %.0f/s in total\n", threads,
                threads * per_thread / s);
  }
  {
    auto db = UsersDb::open(path, {});
    db.add("auth@example.test", PasswordSetting::plain("benchmark password"));
    constexpr int rounds = 20;
    auto start = Clock::now();
    for (int i = 0; i < rounds; ++i) db.verify("auth@example.test", "benchmark password");
    std::printf("AUTH verify (scrypt ln=%u r=%u p=%u), 1 thread: %.1f ms each\n", default_scrypt_parameters.log2_n,
                default_scrypt_parameters.r, default_scrypt_parameters.p, seconds_since(start) / rounds * 1e3);
    start = Clock::now();
    for (int i = 0; i < rounds; ++i) db.verify("nobody@example.test", "benchmark password");
    std::printf("AUTH verify of an unknown user (dummy work), 1 thread: %.1f ms each\n",
                seconds_since(start) / rounds * 1e3);
  }
  std::error_code ec;
  fs::remove_all(dir, ec);
  return 0;
}
