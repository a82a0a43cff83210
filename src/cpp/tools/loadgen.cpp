// fasterapi-loadgen: see tools/lib/loadgen.h. Prints one JSON document on stdout.
#include <cstdio>
#include <exception>
#include <string>
#include <vector>

#include "tools/lib/loadgen.h"

int main(int argc, char** argv) {
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
