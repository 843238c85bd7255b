#include "http_server.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <poll.h>
#include <stdexcept>
#include <sys/socket.h>
#include <unistd.h>

namespace embed::testing {
namespace {

constexpr int kPollMilliseconds = 50;

void send_all(int connection, const std::string& data) {
    size_t sent = 0;
    while (sent < data.size()) {
        const ssize_t n = ::send(connection, data.data() + sent, data.size() - sent, MSG_NOSIGNAL);
        if (n <= 0) {
            return;
        }
        sent += static_cast<size_t>(n);
    }
}

}  // namespace

LocalHttpServer::LocalHttpServer() {
    listener_ = ::socket(AF_INET, SOCK_STREAM, 0);
    int yes = 1;
    ::setsockopt(listener_, SOL_SOCKET, SO_REUSEADDR, &yes, sizeof yes);
    sockaddr_in address{};
    address.sin_family = AF_INET;
    address.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    address.sin_port = 0;
    if (::bind(listener_, reinterpret_cast<sockaddr*>(&address), sizeof address) != 0 ||
        ::listen(listener_, 8) != 0) {
        throw std::runtime_error("test HTTP server: cannot listen on 127.0.0.1");
    }
    socklen_t length = sizeof address;
    ::getsockname(listener_, reinterpret_cast<sockaddr*>(&address), &length);
    port_ = ntohs(address.sin_port);
    thread_ = std::thread([this] { run(); });
}

LocalHttpServer::~LocalHttpServer() {
    stop_ = true;
    thread_.join();
    ::close(listener_);
}

void LocalHttpServer::serve(const std::string& path, Resource resource) {
    const std::lock_guard<std::mutex> lock(mutex_);
    resources_[path] = std::move(resource);
}

std::string LocalHttpServer::url(const std::string& path) const {
    return "http://127.0.0.1:" + std::to_string(port_) + path;
}

std::vector<std::string> LocalHttpServer::requests() const {
    const std::lock_guard<std::mutex> lock(mutex_);
    return requests_;
}

void LocalHttpServer::run() {
    while (!stop_) {
        pollfd waiting{listener_, POLLIN, 0};
        if (::poll(&waiting, 1, kPollMilliseconds) <= 0) {
            continue;
        }
        const int connection = ::accept(listener_, nullptr, nullptr);
        if (connection >= 0) {
            answer(connection);
            ::close(connection);
        }
    }
}

void LocalHttpServer::answer(int connection) {
    std::string request;
    char buffer[4096];
    while (request.find("\r\n\r\n") == std::string::npos) {
        const ssize_t n = ::recv(connection, buffer, sizeof buffer, 0);
        if (n <= 0) {
            return;
        }
        request.append(buffer, static_cast<size_t>(n));
    }
    const size_t path_start = request.find(' ') + 1;
    const std::string path = request.substr(path_start, request.find(' ', path_start) - path_start);
    std::string range;
    if (const size_t at = request.find("Range: bytes="); at != std::string::npos) {
        range = request.substr(at + 13, request.find("\r\n", at) - at - 13);
    }

    Resource resource;
    int times_served = 0;
    {
        const std::lock_guard<std::mutex> lock(mutex_);
        requests_.push_back("GET " + path + (range.empty() ? "" : " bytes=" + range));
        const auto it = resources_.find(path);
        if (it == resources_.end()) {
            send_all(connection,
                     "HTTP/1.1 404 Not Found\r\nContent-Length: 0\r\n"
                     "Connection: close\r\n\r\n");
            return;
        }
        resource = it->second;
        times_served = served_[path]++;
    }
    if (resource.fail_first_with != 0 && times_served == 0) {
        const std::string page = "<html><body>temporarily unavailable</body></html>";
        send_all(connection, "HTTP/1.1 " + std::to_string(resource.fail_first_with) +
                                 " Error\r\nContent-Length: " + std::to_string(page.size()) +
                                 "\r\nConnection: close\r\n\r\n" + page);
        return;
    }
    const std::string& body = resource.body;
    size_t start = 0;
    std::string status = "200 OK";
    std::string extra;
    if (!range.empty() && resource.ranges) {
        start = std::stoul(range.substr(0, range.find('-')));
        if (start >= body.size()) {
            send_all(connection, "HTTP/1.1 416 Range Not Satisfiable\r\nContent-Range: bytes */" +
                                     std::to_string(body.size()) +
                                     "\r\nContent-Length: 0\r\nConnection: close\r\n\r\n");
            return;
        }
        status = "206 Partial Content";
        extra = "Content-Range: bytes " + std::to_string(start) + "-" +
                std::to_string(body.size() - 1) + "/" + std::to_string(body.size()) + "\r\n";
    }
    send_all(connection, "HTTP/1.1 " + status +
                             "\r\nContent-Length: " + std::to_string(body.size() - start) + "\r\n" +
                             extra + "Connection: close\r\n\r\n");
    const bool break_off = resource.break_after > 0 && times_served == 0;
    send_all(connection, body.substr(start, break_off ? resource.break_after : std::string::npos));
}

}  // namespace embed::testing
