// The job controller's control socket, run/job_controller.ctl: a Unix
// stream socket where `imta cache -view` and `imta qm jobs` ask the running
// controller what it holds. One request line per connection, answered with
// lines of space-separated fields, then the controller closes:
//
//   request                answer
//   cache [CHANNEL]        ok <now-ms> <files-cached> <cache-bytes>
//                          file <channel> <file-name> <attempts> <due-ms> waiting|running
//                          ...
//                          channel <channel> <files> <waiting> <due> <running> <jobs> immediate|periodic master|nomaster
//                          ...
//   sync                   ok <now-ms> <files-cached> <cache-bytes>   (after a full rescan)
//   jobs                   ok <now-ms> <files-cached> <cache-bytes>
//                          job <id> <channel> <pool> <started-ms> <files-done> <current-file or ->
//                          ...
//   anything else          error <text>
//
// Times are the controller's clock (Unix ms). Only the instance's owner can
// connect: the socket is mode 0600.
#pragma once

#include <chrono>
#include <filesystem>
#include <functional>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace imta::queue {

class JobController;

/// The socket's path inside an instance's run/ directory.
std::filesystem::path control_socket_path(const std::filesystem::path& run_dir);

/// Answers one request, handing the answer to `write` a piece at a time
/// (so a cache of a million files is never formatted whole). `write`
/// returns false when the client went away; answering stops then.
void answer_control_request(JobController& controller, std::string_view request,
                            const std::function<bool(std::string_view)>& write);

/// Asks the controller of the instance whose run/ directory is `run_dir`;
/// the whole answer, or nullopt with `error` set when no controller answers
/// (within `timeout` of each wait for more of the answer).
std::optional<std::string> ask_job_controller(const std::filesystem::path& run_dir, std::string_view request,
                                              std::string* error = nullptr,
                                              std::chrono::milliseconds timeout = std::chrono::seconds(30));

/// The lines of an answer, each split into its fields.
std::vector<std::vector<std::string>> answer_lines(std::string_view answer);

}  // namespace imta::queue
