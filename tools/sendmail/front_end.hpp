// The sendmail(8) front end: one program installed as `sendmail`, `mailq`
// and `newaliases`, acting by the name it is called with (as every Unix
// MTA's does: cron, PHP's mail() and scripts call /usr/sbin/sendmail).
// It enqueues through the queue API directly, so it works while imtad is
// down, and then tells the job controller if it runs. Exit codes follow
// sysexits.h (see sysexits.hpp).
#pragma once

#include <string>
#include <vector>

namespace imta::tools::sendmail {

/// `sendmail [flags] [recipients]` (argv without the program name). Also
/// reached for `-bp` (mailq) and `-bi`/`-I` (newaliases).
int run_sendmail(const std::vector<std::string>& args);

/// `mailq [--json] [-v]`: the queue in the shape scripts expect (see mailq(1)).
int run_mailq(const std::vector<std::string>& args);

/// `newaliases`: rebuilds the compiled configuration that holds the aliases
/// and says how many aliases it read (see newaliases(1)).
int run_newaliases(const std::vector<std::string>& args);

}  // namespace imta::tools::sendmail
