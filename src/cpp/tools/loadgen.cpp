// fasterapi-loadgen: see tools/lib/loadgen.h. Prints one JSON document on stdout.
#include <signal.h>

#include <cstdio>
#include <exception>
#include <string>
#include <vector>

#include "tools/lib/loadgen.h"

namespace {
void on_signal(int) { fasterapi::loadgen::request_stop(); }
}  // namespace

int main(int argc, char** argv) {
    // SIGINT/SIGTERM end the run early but still print its report; a second one kills.
    struct sigaction sa {};
    sa.sa_handler = on_signal;
    sa.sa_flags = SA_RESETHAND;
    sigemptyset(&sa.sa_mask);
    sigaction(SIGINT, &sa, nullptr);
    sigaction(SIGTERM, &sa, nullptr);

    std::vector<std::string> args(argv + 1, argv + argc);
    for (const auto& a : args) {
        if (a == "-h" || a == "--help") {
            std::fputs(fasterapi::loadgen::usage().c_str(), stdout);
            return 0;
        }
    }
    try {
        std::string json = fasterapi::loadgen::run_loadgen(args);
        json += '\n';
        std::fwrite(json.data(), 1, json.size(), stdout);
        return 0;
    } catch (const fasterapi::loadgen::UsageError& e) {
        std::fprintf(stderr, "fasterapi-loadgen: %s\n\n%s", e.what(), fasterapi::loadgen::usage().c_str());
        return 2;
    } catch (const std::exception& e) {
        std::fprintf(stderr, "fasterapi-loadgen: %s\n", e.what());
        return 1;
    }
}
