// The job controller process (imtad's "job_controller" child): the
// JobController with what a daemon needs around it — the compiled
// configuration, the queue store, mail.log, the notification socket
// (queue/notify.hpp), the control socket (queue/job_control.hpp), the
// periodic rescan (SYNCH_TIME) and the signals:
//   SIGHUP           load config/imta.image again; new jobs use it
//   SIGTERM, SIGINT  stop: running jobs finish their current file, then exit
#pragma once

#include <functional>
#include <string>

#include "config/snapshot.hpp"
#include "core/instance.hpp"
#include "core/log/mail_log_file.hpp"
#include "queue/master.hpp"
#include "queue/store.hpp"

namespace imta::queue {

struct JobDaemonOptions {
  core::Instance instance{""};
  MasterFactory factory;
  /// One line per event for the daemon's log ("job_controller: " is added).
  std::function<void(const std::string&)> log;
};

/// Runs until SIGTERM/SIGINT; returns the exit code (78 when the compiled
/// configuration cannot be loaded, 71 when a socket cannot be set up).
int run_job_daemon(const JobDaemonOptions& options);

}  // namespace imta::queue
