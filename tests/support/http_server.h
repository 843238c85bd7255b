// A tiny HTTP/1.1 server on 127.0.0.1 for download tests: serves fixed bodies, honours range
// requests, and can break a transfer off to exercise resuming.
#pragma once

#include <atomic>
#include <map>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

namespace embed::testing {

class LocalHttpServer {
public:
    struct Resource {
        std::string body;
        /// Close the connection after this many body bytes, on the first request only (0: never).
        size_t break_after = 0;
        /// Answer range requests with 206; otherwise ignore them and send everything (200).
        bool ranges = true;
        /// Answer the first request with this error status and an HTML body (0: no error).
        int fail_first_with = 0;
    };

    LocalHttpServer();
    ~LocalHttpServer();
    LocalHttpServer(const LocalHttpServer&) = delete;
    LocalHttpServer& operator=(const LocalHttpServer&) = delete;

    void serve(const std::string& path, Resource resource);
    std::string url(const std::string& path) const;
    /// "GET /path" plus " bytes=N-" for range requests, in arrival order.
    std::vector<std::string> requests() const;

private:
    void run();
    void answer(int connection);

    int listener_ = -1;
    int port_ = 0;
    std::atomic<bool> stop_{false};
    mutable std::mutex mutex_;
    std::map<std::string, Resource> resources_;
    std::map<std::string, int> served_;
    std::vector<std::string> requests_;
    std::thread thread_;
};

}  // namespace embed::testing
