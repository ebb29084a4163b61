// Exit codes of sendmail, mailq and newaliases: sysexits.h's, which cron,
// PHP and scripts test for (75 = try again later, 64 = usage, ...).
#pragma once

#include <sysexits.h>

namespace imta::tools::sendmail {

enum SysExit : int {
  ok = EX_OK,                  // 0
  usage = EX_USAGE,            // 64: bad flags, no recipients
  data_error = EX_DATAERR,     // 65: the input is not a usable message
  no_input = EX_NOINPUT,       // 66: a file named on the command line is missing
  no_user = EX_NOUSER,         // 67: an address could not be routed
  unavailable = EX_UNAVAILABLE,// 69
  software = EX_SOFTWARE,      // 70: internal error
  os_error = EX_OSERR,         // 71
  os_file = EX_OSFILE,         // 72: the instance or its configuration is missing
  cant_create = EX_CANTCREAT,  // 73
  io_error = EX_IOERR,         // 74
  temp_fail = EX_TEMPFAIL,     // 75: could not enqueue now; the caller should retry
  no_perm = EX_NOPERM,         // 77: e.g. -f refused for an untrusted caller
  config = EX_CONFIG,          // 78: the configuration does not compile
};

}  // namespace imta::tools::sendmail
