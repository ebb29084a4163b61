// imta user -- the users database (db/users.sqlite): the mailboxes of the
// local channel and the logins of SMTP AUTH. add, delete, list, passwd,
// enable, disable, verify.
//
// Passwords are read from standard input, never from the command line,
// where every user of the machine could read them in ps. On a terminal the
// command prompts (twice when setting) with echo off.
#include <signal.h>
#include <termios.h>
#include <unistd.h>

#include <algorithm>
#include <array>
#include <ctime>
#include <iostream>

#include "core/json.hpp"
#include "core/password_hash.hpp"
#include "core/users_db.hpp"
#include "tools/command_line.hpp"

namespace imta::tools {

namespace {

/// A secret read from the user, wiped from memory when it goes.
struct Secret {
  std::string value;
  Secret() = default;
  Secret(const Secret&) = delete;
  Secret& operator=(const Secret&) = delete;
  ~Secret() { core::wipe(value); }
};

// The terminal settings to put back if a signal ends the program while echo
// is off (otherwise the shell is left blind). Only the handler reads them.
termios saved_terminal;

extern "C" void restore_terminal_and_die(int signal_number) {
  ::tcsetattr(STDIN_FILENO, TCSANOW, &saved_terminal);  // async-signal-safe
  ::signal(signal_number, SIG_DFL);
  ::raise(signal_number);
}

/// Turns terminal echo off on standard input while it lives (newlines still
/// echo, so the cursor moves on after Enter). Restores it on every way out:
/// return, exception, or Ctrl-C and the other terminating signals.
class EchoOff {
 public:
  EchoOff() {
    if (::tcgetattr(STDIN_FILENO, &saved_terminal) != 0) return;
    active_ = true;
    struct sigaction action {};
    action.sa_handler = restore_terminal_and_die;
    sigemptyset(&action.sa_mask);
    for (std::size_t i = 0; i < signals.size(); ++i) ::sigaction(signals[i], &action, &previous_[i]);
    termios quiet = saved_terminal;
    quiet.c_lflag &= ~static_cast<tcflag_t>(ECHO);
    quiet.c_lflag |= ECHONL;
    ::tcsetattr(STDIN_FILENO, TCSANOW, &quiet);
  }
  EchoOff(const EchoOff&) = delete;
  EchoOff& operator=(const EchoOff&) = delete;
  ~EchoOff() {
    if (!active_) return;
    ::tcsetattr(STDIN_FILENO, TCSANOW, &saved_terminal);
    for (std::size_t i = 0; i < signals.size(); ++i) ::sigaction(signals[i], &previous_[i], nullptr);
  }

 private:
  static constexpr std::array<int, 4> signals = {SIGINT, SIGTERM, SIGHUP, SIGQUIT};
  std::array<struct sigaction, 4> previous_{};
  bool active_ = false;
};

/// One line of standard input without its line end. Throws when there is none.
void read_line(Secret& secret, std::string_view what) {
  if (!std::getline(std::cin, secret.value) && secret.value.empty())
    throw std::runtime_error("no " + std::string(what) + " on standard input; nothing changed");
  if (!secret.value.empty() && secret.value.back() == '\r') secret.value.pop_back();
}

/// Reads a password: prompted for (twice when `confirm`) on a terminal
/// unless `from_stdin_only`, else one line of standard input.
void read_password(Secret& password, const std::string& user, bool confirm, bool from_stdin_only) {
  bool terminal = ::isatty(STDIN_FILENO) == 1;
  if (!terminal) {
    read_line(password, "password");
    return;
  }
  EchoOff quiet;
  if (!from_stdin_only) std::cerr << "Password for " << user << ": " << std::flush;
  read_line(password, "password");
  if (!confirm || from_stdin_only) return;
  Secret again;
  std::cerr << "Retype the password: " << std::flush;
  read_line(again, "password");
  if (again.value != password.value) throw std::runtime_error("the passwords do not match; nothing changed");
}

/// How `add` and `passwd` get the password to store.
struct PasswordChoice {
  bool none = false;        ///< --no-password
  bool stdin_only = false;  ///< --password-stdin
  bool hash = false;        ///< --hash-stdin
};

void add_password_options(po::options_description& options) {
  options.add_options()
      ("password-stdin", "read the password from standard input (one line), without prompting")
      ("no-password", "no password: the mailbox receives mail but cannot log in with SMTP AUTH")
      ("hash-stdin", "read a ready-made hash (scrypt or pbkdf2-sha256, see imta-user(8)) from standard input");
}

PasswordChoice password_choice(const po::variables_map& vm) {
  PasswordChoice choice{vm.count("no-password") > 0, vm.count("password-stdin") > 0, vm.count("hash-stdin") > 0};
  if (int(choice.none) + int(choice.stdin_only) + int(choice.hash) > 1)
    throw UsageError("choose one of --password-stdin, --no-password and --hash-stdin");
  return choice;
}

/// Reads what `choice` says into `secret` and wraps it for the database.
core::PasswordSetting obtain_password(const PasswordChoice& choice, const std::string& user, Secret& secret) {
  if (choice.none) return core::PasswordSetting::none();
  if (choice.hash) {
    read_line(secret, "password hash");
    std::string why;
    if (!core::parse_stored_hash(secret.value, &why))
      throw std::runtime_error("not a usable password hash: " + why + "; nothing changed");
    return core::PasswordSetting::hashed(secret.value);
  }
  read_password(secret, user, true, choice.stdin_only);
  if (auto problem = core::password_problem(secret.value); !problem.empty()) {
    if (secret.value.empty()) problem += " (use --no-password for a mailbox without SMTP AUTH)";
    throw std::runtime_error(problem + "; nothing changed");
  }
  return core::PasswordSetting::plain(secret.value);
}

/// The NAME argument, validated and lower-cased. A bad name is a usage error.
std::string user_name(const po::variables_map& vm) {
  if (!vm.count("name")) throw UsageError("name the user");
  const auto& name = vm["name"].as<std::string>();
  std::string why;
  auto normalized = core::normalize_user_name(name, &why);
  if (!normalized) throw UsageError("\"" + name + "\" is not a valid user name: " + why);
  return *normalized;
}

po::variables_map parse_with_name(const std::vector<std::string>& args, po::options_description& options) {
  options.add_options()("name", po::value<std::string>(), "user name");
  po::positional_options_description positional;
  positional.add("name", 1);
  return parse_options(args, options, positional);
}

std::string iso_time(std::int64_t seconds) {
  std::time_t t = static_cast<std::time_t>(seconds);
  std::tm tm{};
  char buf[32] = {};
  if (!::gmtime_r(&t, &tm) || std::strftime(buf, sizeof buf, "%Y-%m-%dT%H:%M:%SZ", &tm) == 0) return "?";
  return buf;
}

/// The instance's users database, created if missing; nullopt (after
/// saying why) when there is no usable instance. Called only once the
/// command line has been checked, so a typo is a usage error (2) whatever
/// the state of the instance.
std::optional<core::UsersDb> open_users(const CommandContext& context) {
  auto instance = usable_instance(context);
  if (!instance) return std::nullopt;
  return core::UsersDb::open(core::users_db_path(*instance), {.create = true});
}

int add_user(const CommandContext& context, const std::vector<std::string>& args) {
  po::options_description options("imta user add options");
  add_password_options(options);
  auto vm = parse_with_name(args, options);
  auto user = user_name(vm);
  auto choice = password_choice(vm);
  auto db = open_users(context);
  if (!db) return exit_failure;
  // Refuse a duplicate before asking for a password nobody will use.
  if (db->find(user)) {
    std::cerr << "imta user: user " << user << " already exists\n";
    return exit_failure;
  }
  Secret secret;
  auto password = obtain_password(choice, user, secret);
  if (db->add(user, password) == core::UsersDb::AddResult::duplicate) {
    std::cerr << "imta user: user " << user << " already exists\n";
    return exit_failure;
  }
  std::cout << "added user " << user
            << (choice.none ? " without a password (receives mail; no SMTP AUTH)" : " with a password") << "\n";
  return exit_ok;
}

int delete_user(const CommandContext& context, const std::vector<std::string>& args) {
  po::options_description options("imta user delete options");
  auto vm = parse_with_name(args, options);
  auto user = user_name(vm);
  auto db = open_users(context);
  if (!db) return exit_failure;
  if (!db->remove(user)) {
    std::cerr << "imta user: no such user: " << user << "\n";
    return exit_failure;
  }
  std::cout << "deleted user " << user << "\n";
  return exit_ok;
}

int change_password(const CommandContext& context, const std::vector<std::string>& args) {
  po::options_description options("imta user passwd options");
  add_password_options(options);
  auto vm = parse_with_name(args, options);
  auto user = user_name(vm);
  auto choice = password_choice(vm);
  auto db = open_users(context);
  if (!db) return exit_failure;
  if (!db->find(user)) {
    std::cerr << "imta user: no such user: " << user << "\n";
    return exit_failure;
  }
  Secret secret;
  auto password = obtain_password(choice, user, secret);
  if (!db->set_password(user, password)) {
    std::cerr << "imta user: no such user: " << user << "\n";
    return exit_failure;
  }
  std::cout << (choice.none ? "removed the password of user " : "changed the password of user ") << user << "\n";
  return exit_ok;
}

int enable_user(const CommandContext& context, const std::vector<std::string>& args, bool enabled) {
  po::options_description options(enabled ? "imta user enable options" : "imta user disable options");
  auto vm = parse_with_name(args, options);
  auto user = user_name(vm);
  auto db = open_users(context);
  if (!db) return exit_failure;
  if (!db->set_enabled(user, enabled)) {
    std::cerr << "imta user: no such user: " << user << "\n";
    return exit_failure;
  }
  std::cout << (enabled ? "enabled user " : "disabled user ") << user
            << (enabled ? "\n" : " (SMTP AUTH refused; mail is still delivered)\n");
  return exit_ok;
}

int enable(const CommandContext& context, const std::vector<std::string>& args) {
  return enable_user(context, args, true);
}

int disable(const CommandContext& context, const std::vector<std::string>& args) {
  return enable_user(context, args, false);
}

int verify_user(const CommandContext& context, const std::vector<std::string>& args) {
  po::options_description options("imta user verify options");
  options.add_options()("password-stdin", "read the password from standard input (one line), without prompting");
  auto vm = parse_with_name(args, options);
  auto user = user_name(vm);
  auto db = open_users(context);
  if (!db) return exit_failure;
  Secret password;
  read_password(password, user, false, vm.count("password-stdin") > 0);
  auto result = db->verify(user, password.value);
  if (result == core::VerifyResult::unavailable) {
    std::cerr << "imta user: " << db->credentials(user).error << "\n";
    return exit_failure;
  }
  std::cout << user << ": " << core::describe(result) << "\n";
  return result == core::VerifyResult::ok ? exit_ok : exit_failure;
}

int list_users(const CommandContext& context, const std::vector<std::string>& args) {
  po::options_description options("imta user list options");
  options.add_options()("json", "one JSON object per user and line");
  auto vm = parse_options(args, options, {});
  auto db = open_users(context);
  if (!db) return exit_failure;
  auto users = db->list();
  if (vm.count("json")) {
    core::JsonWriter json;
    for (const auto& u : users) {
      json.clear();
      json.begin_object()
          .field("name", u.name)
          .field("password", u.has_password)
          .field("enabled", u.enabled)
          .field("created", iso_time(u.created))
          .end_object();
      std::cout << json.str() << "\n";
    }
    return exit_ok;
  }
  if (users.empty()) return exit_ok;
  std::size_t width = 4;
  for (const auto& u : users) width = std::max(width, u.name.size());
  auto column = [&](std::string_view text) { return std::string(text) + std::string(width + 2 - text.size(), ' '); };
  std::cout << column("NAME") << "PASSWORD  ENABLED  CREATED\n";
  for (const auto& u : users)
    std::cout << column(u.name) << (u.has_password ? "yes       " : "no        ") << (u.enabled ? "yes      " : "no       ")
              << iso_time(u.created) << "\n";
  return exit_ok;
}

}  // namespace

int run_user(const CommandContext& context, const std::vector<std::string>& args) {
  if (args.empty())
    throw UsageError("say what to do: imta user add|delete|list|passwd|enable|disable|verify [NAME]");
  const std::string& action = args[0];
  std::vector<std::string> rest(args.begin() + 1, args.end());
  using Run = int (*)(const CommandContext&, const std::vector<std::string>&);
  Run run = action == "add"       ? add_user
            : action == "delete"  ? delete_user
            : action == "list"    ? list_users
            : action == "passwd"  ? change_password
            : action == "verify"  ? verify_user
            : action == "enable"  ? enable
            : action == "disable" ? disable
                                  : Run{};
  if (!run) throw UsageError("unknown action \"" + action + "\" (add, delete, list, passwd, enable, disable, verify)");
  for (const auto& arg : rest)
    if (arg == "--password" || arg.starts_with("--password=") || arg == "-password" || arg.starts_with("-password="))
      throw UsageError("a password is never taken from the command line (ps would show it to every user); "
                       "use --password-stdin or type it at the prompt");
  return run(context, rest);
}

}  // namespace imta::tools
