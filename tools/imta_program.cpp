// imta program -- the programs the pipe channel may run (db/programs.sqlite,
// channels/pipe/program_registry.hpp): add (-a), change (-c), delete (-d),
// list (-l). Sun's form `-a -m NAME -p PATH -g "ARGS %s" -e USER` works too.
//
// The options are read by hand rather than by Boost.Program_options: the
// argument template is usually a word that starts with a dash ("-d %s"),
// which must be taken as the value of -g, never as an option.
#include <algorithm>
#include <iostream>

#include "channels/pipe/child_process.hpp"
#include "channels/pipe/program_registry.hpp"
#include "core/json.hpp"
#include "core/text.hpp"
#include "tools/command_line.hpp"

namespace imta::tools {

namespace {

using channels::pipe::Program;
using channels::pipe::ProgramRegistry;

enum class Action { none, add, change, remove, list };

struct Request {
  Action action = Action::none;
  std::optional<std::string> name, path, arguments, user, timeout;
  bool json = false;
};

constexpr std::string_view usage_text =
    "imta program -a NAME -p PATH [-g \"ARGS %s\"] [-e USER] [-t SECONDS] | -c NAME [...] | -d NAME | -l [--json]";

Request parse_request(const std::vector<std::string>& args) {
  Request r;
  auto set_action = [&](Action a) {
    if (r.action != Action::none && r.action != a) throw UsageError("choose one of -a, -c, -d and -l");
    r.action = a;
  };
  auto set_name = [&](const std::string& name) {
    if (r.name && *r.name != name) throw UsageError("one program at a time (\"" + *r.name + "\" and \"" + name + "\")");
    r.name = name;
  };
  for (std::size_t i = 0; i < args.size(); ++i) {
    std::string word = args[i];
    std::optional<std::string> inline_value;
    if (word.size() > 1 && word[0] == '-') {
      auto eq = word.find('=');
      if (eq != std::string::npos) {
        inline_value = word.substr(eq + 1);
        word.resize(eq);
      }
    }
    // The option's value: after '=', else the next word, whatever it looks like.
    auto value = [&]() -> std::string {
      if (inline_value) return *inline_value;
      if (i + 1 >= args.size()) throw UsageError(word + " needs a value");
      return args[++i];
    };
    // -a/-c/-d/-l may be followed by the program name.
    auto maybe_name = [&] {
      if (inline_value) set_name(*inline_value);
      else if (i + 1 < args.size() && !args[i + 1].starts_with('-')) set_name(args[++i]);
    };
    if (word == "-a" || word == "--add" || word == "-add") {
      set_action(Action::add);
      maybe_name();
    } else if (word == "-c" || word == "--change" || word == "-change") {
      set_action(Action::change);
      maybe_name();
    } else if (word == "-d" || word == "--delete" || word == "-delete") {
      set_action(Action::remove);
      maybe_name();
    } else if (word == "-l" || word == "--list" || word == "-list") {
      set_action(Action::list);
      maybe_name();
    } else if (word == "-m" || word == "--method" || word == "-method" || word == "--name") {
      set_name(value());
    } else if (word == "-p" || word == "--program" || word == "-program" || word == "--path") {
      r.path = value();
    } else if (word == "-g" || word == "--arguments" || word == "-arguments") {
      r.arguments = value();
    } else if (word == "-e" || word == "--user" || word == "-user") {
      r.user = value();
    } else if (word == "-t" || word == "--timeout" || word == "-timeout") {
      r.timeout = value();
    } else if (word == "--json" || word == "-json") {
      r.json = true;
    } else if (!word.starts_with('-')) {
      set_name(word);
    } else {
      throw UsageError("unknown option \"" + word + "\"");
    }
  }
  if (r.action == Action::none) throw UsageError(std::string("say what to do: ") + std::string(usage_text));
  if (r.action != Action::list && !r.name) throw UsageError("name the program");
  if (r.action == Action::add && !r.path) throw UsageError("-a needs the program's path: -p PATH");
  if ((r.action == Action::remove || r.action == Action::list) && (r.path || r.arguments || r.user || r.timeout))
    throw UsageError("-p, -g, -e and -t go with -a or -c");
  if (r.json && r.action != Action::list) throw UsageError("--json goes with -l");
  return r;
}

/// Applies the request's settings to `p`; false (after saying why) when one
/// is unusable.
bool apply_settings(const Request& r, Program& p) {
  if (r.path) {
    if (auto problem = channels::pipe::program_path_problem(*r.path); !problem.empty()) {
      std::cerr << "imta program: " << problem << " (the program must be an executable file named by its absolute path)\n";
      return false;
    }
    p.path = *r.path;
  }
  if (r.arguments) {
    if (auto problem = channels::pipe::arguments_problem(*r.arguments); !problem.empty()) {
      std::cerr << "imta program: arguments \"" << *r.arguments << "\": " << problem << "\n";
      return false;
    }
    p.arguments = *r.arguments;
  }
  if (r.user) {
    std::string why;
    if (!r.user->empty() && !channels::resolve_user(*r.user, &why)) {
      std::cerr << "imta program: " << why << "\n";
      return false;
    }
    p.user = *r.user;
  }
  if (r.timeout) {
    auto n = core::parse_integer(*r.timeout);
    if (!n || *n < 1 || *n > 86400) {
      std::cerr << "imta program: the timeout must be a number of seconds from 1 to 86400, not \"" << *r.timeout
                << "\"\n";
      return false;
    }
    p.timeout_s = static_cast<int>(*n);
  }
  return true;
}

std::string normalized_name(const std::string& name) {
  std::string why;
  auto n = channels::pipe::normalize_program_name(name, &why);
  if (!n) throw UsageError(why);
  return *n;
}

void print_list(const std::vector<Program>& programs, bool json) {
  if (json) {
    core::JsonWriter w;
    for (const auto& p : programs) {
      w.clear();
      w.begin_object()
          .field("name", p.name)
          .field("path", p.path)
          .field("arguments", p.arguments)
          .field("user", p.user.empty() ? std::string("nobody") : p.user)
          .field("timeout", static_cast<std::int64_t>(p.timeout_s))
          .end_object();
      std::cout << w.str() << "\n";
    }
    return;
  }
  if (programs.empty()) return;
  std::size_t name_w = 4, path_w = 4, user_w = 4;
  for (const auto& p : programs) {
    name_w = std::max(name_w, p.name.size());
    path_w = std::max(path_w, p.path.size());
    user_w = std::max(user_w, p.user.empty() ? std::size_t(6) : p.user.size());
  }
  auto pad = [](std::string_view text, std::size_t width) {
    return std::string(text) + std::string(width + 2 - text.size(), ' ');
  };
  std::cout << pad("NAME", name_w) << pad("PATH", path_w) << pad("USER", user_w) << "TIMEOUT  ARGUMENTS\n";
  for (const auto& p : programs) {
    std::string timeout = std::to_string(p.timeout_s);
    std::cout << pad(p.name, name_w) << pad(p.path, path_w) << pad(p.user.empty() ? "nobody" : p.user, user_w)
              << timeout << std::string(timeout.size() < 9 ? 9 - timeout.size() : 1, ' ') << p.arguments << "\n";
  }
}

}  // namespace

int run_program(const CommandContext& context, const std::vector<std::string>& args) {
  auto request = parse_request(args);
  std::optional<std::string> name;
  if (request.name) name = normalized_name(*request.name);
  auto instance = usable_instance(context);
  if (!instance) return exit_failure;
  auto path = channels::pipe::programs_db_path(*instance);

  if (request.action == Action::list) {
    std::error_code ec;
    if (!std::filesystem::exists(path, ec)) return exit_ok;  // nothing registered yet
    auto db = ProgramRegistry::open(path, {});
    auto programs = db.list();
    if (name) {
      std::erase_if(programs, [&](const Program& p) { return p.name != *name; });
      if (programs.empty()) {
        std::cerr << "imta program: no such program: " << *name << "\n";
        return exit_failure;
      }
    }
    print_list(programs, request.json);
    return exit_ok;
  }

  std::error_code ec;
  if (request.action != Action::add && !std::filesystem::exists(path, ec)) {
    std::cerr << "imta program: no such program: " << *name << "\n";
    return exit_failure;
  }
  auto db = ProgramRegistry::open(path, {.create = request.action == Action::add});
  switch (request.action) {
    case Action::add: {
      Program p;
      p.name = *name;
      if (!apply_settings(request, p)) return exit_failure;
      if (!db.add(p)) {
        std::cerr << "imta program: program " << p.name << " already exists (change it with -c, or delete it with -d)\n";
        return exit_failure;
      }
      std::cout << "added program " << p.name << ": " << p.path << (p.arguments.empty() ? "" : " " + p.arguments)
                << "\n";
      return exit_ok;
    }
    case Action::change: {
      auto p = db.find(*name);
      if (!p) {
        std::cerr << "imta program: no such program: " << *name << "\n";
        return exit_failure;
      }
      if (!apply_settings(request, *p)) return exit_failure;
      if (!db.change(*p)) {
        std::cerr << "imta program: no such program: " << *name << "\n";
        return exit_failure;
      }
      std::cout << "changed program " << p->name << ": " << p->path << (p->arguments.empty() ? "" : " " + p->arguments)
                << "\n";
      return exit_ok;
    }
    case Action::remove:
      if (!db.remove(*name)) {
        std::cerr << "imta program: no such program: " << *name << "\n";
        return exit_failure;
      }
      std::cout << "deleted program " << *name << "\n";
      return exit_ok;
    default: return exit_usage;
  }
}

}  // namespace imta::tools
