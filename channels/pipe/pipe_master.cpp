#include "channels/pipe/pipe_master.hpp"

#include <pwd.h>
#include <unistd.h>

#include <filesystem>

#include "channels/pipe/child_process.hpp"
#include "channels/pipe/program_registry.hpp"
#include "core/text.hpp"

namespace imta::channels::pipe {

namespace {

using queue::RecipientOutcome;
using queue::RecipientStatus;

RecipientOutcome outcome(RecipientStatus status, std::string dsn_status, std::string text) {
  RecipientOutcome o;
  o.status = status;
  o.dsn_status = std::move(dsn_status);
  o.diagnostic_code = "x-unix; " + text;
  o.log_diagnostics = std::move(text);
  return o;
}

/// imta's own user, for the environment of a program run without switching.
RunAs current_user() {
  RunAs who;
  who.uid = ::geteuid();
  who.gid = ::getegid();
  if (const passwd* pw = ::getpwuid(who.uid)) {
    who.name = pw->pw_name;
    who.home = pw->pw_dir ? pw->pw_dir : "/";
  } else {
    who.name = std::to_string(who.uid);
    who.home = "/";
  }
  return who;
}

class PipeMaster final : public queue::Master {
 public:
  PipeMaster(std::string channel, const queue::MasterServices& services)
      : channel_(std::move(channel)), services_(services) {}

  queue::DeliveryReport deliver(const queue::Claim& claim) override {
    const auto& env = claim.file().envelope;
    queue::DeliveryReport report;
    std::string input;
    bool have_input = false;
    for (const auto& rcpt : env.recipients) {
      if (!have_input) {
        input = core::to_lf(claim.message());
        have_input = true;
      }
      report.recipients.push_back(deliver_one(claim, rcpt, input));
    }
    return report;
  }

 private:
  /// The registry, opened at the first use of the job. nullopt after
  /// opening found no database (no program was ever registered).
  ProgramRegistry* registry(std::string& error) {
    if (registry_) return &*registry_;
    auto path = programs_db_path(*services_.instance);
    std::error_code ec;
    if (!std::filesystem::exists(path, ec)) return nullptr;
    try {
      registry_.emplace(ProgramRegistry::open(path, {}));
    } catch (const std::exception& e) {
      error = e.what();
      return nullptr;
    }
    return &*registry_;
  }

  void trace(const std::string& line) const {
    if (services_.trace) services_.trace(line);
  }

  RecipientOutcome deliver_one(const queue::Claim& claim, const core::Recipient& rcpt, const std::string& input) {
    if (services_.stopping && services_.stopping->load())
      return outcome(RecipientStatus::deferred, "4.3.0", "not attempted: imta is stopping");
    auto address = parse_pipe_address(rcpt.active);
    std::string db_error;
    auto* db = registry(db_error);
    if (!db && !db_error.empty())
      return outcome(RecipientStatus::deferred, "4.3.0", "programs database unavailable: " + db_error);
    std::optional<Program> program;
    if (db) {
      try {
        program = db->find(address.program);
      } catch (const std::exception& e) {
        return outcome(RecipientStatus::deferred, "4.3.0", std::string("programs database unavailable: ") + e.what());
      }
    }
    if (!program)
      return outcome(RecipientStatus::bounced, "5.1.1", "no such program: \"" + address.program + "\" (see imta program -l)");

    std::string user_error;
    auto run_as = choose_run_as(program->user, &user_error);
    if (!user_error.empty())
      return outcome(RecipientStatus::deferred, "4.3.0", "program " + program->name + ": " + user_error);

    const std::string argument = address.has_argument ? address.argument : rcpt.original;
    ChildSpec spec;
    spec.argv = program_argv(*program, argument);
    spec.input = input;
    spec.timeout = std::chrono::seconds(program->timeout_s);
    spec.run_as = run_as;
    spec.stopping = services_.stopping;
    spec.max_output = 64 * 1024;  // read so the program never blocks on a full pipe, then dropped
    const RunAs who = run_as ? *run_as : current_user();
    const auto& env = claim.file().envelope;
    spec.env = {
        "PATH=/usr/local/bin:/usr/bin:/bin",
        "HOME=" + who.home,
        "USER=" + who.name,
        "LOGNAME=" + who.name,
        "IMTA_SENDER=" + env.from,
        "IMTA_RECIPIENT=" + rcpt.active,
        "IMTA_ORIGINAL_RECIPIENT=" + rcpt.original,
        "IMTA_ARGUMENT=" + argument,
        "IMTA_PROGRAM=" + program->name,
        "IMTA_QUEUE_ID=" + claim.entry().name.id,
        "IMTA_MESSAGE_ID=" + env.message_id,
        "IMTA_SOURCE_CHANNEL=" + env.source_channel,
    };
    trace("pipe: running " + program->name + " (" + program->path + ") for " + rcpt.active);
    ChildResult r;
    try {
      r = run_child(spec);
    } catch (const std::exception& e) {
      return outcome(RecipientStatus::deferred, "4.3.0", "program " + program->name + ": " + e.what());
    }
    const std::string what = "program " + program->name + " " + describe(r, spec);
    if (r.end == ChildResult::End::exited && r.exit_code == 0) {
      auto o = outcome(RecipientStatus::delivered, "2.0.0", what);
      o.diagnostic_code.clear();
      return o;
    }
    std::string said = first_line(r.errors);
    if (said.empty() && r.end == ChildResult::End::exited) said = first_line(r.output);
    std::string text = said.empty() ? what : what + ": " + said;
    trace("pipe: " + text);
    if (r.end == ChildResult::End::exited && !temporary_exit_status(r.exit_code))
      return outcome(RecipientStatus::bounced, "5.3.0", text);
    return outcome(RecipientStatus::deferred, "4.3.0", text);
  }

  std::string channel_;
  queue::MasterServices services_;
  std::optional<ProgramRegistry> registry_;
};

}  // namespace

PipeAddress parse_pipe_address(std::string_view active) {
  auto at = active.rfind('@');
  std::string_view local = active.substr(0, at);
  if (local.size() >= 2 && local.front() == '"' && local.back() == '"') local = local.substr(1, local.size() - 2);
  PipeAddress out;
  auto plus = local.find('+');
  if (plus == std::string_view::npos) {
    out.program = core::to_lower(local);
  } else {
    out.program = core::to_lower(local.substr(0, plus));
    out.argument = std::string(local.substr(plus + 1));
    out.has_argument = true;
  }
  return out;
}

bool temporary_exit_status(int status) { return status == 71 || status == 74 || status == 75 || status == 79; }

std::unique_ptr<queue::Master> make_master(std::string_view channel, const queue::MasterServices& services) {
  return std::make_unique<PipeMaster>(std::string(channel), services);
}

}  // namespace imta::channels::pipe
