/*
 * Copyright the edgec authors.
 *
 * Licensed under the Apache License, Version 2.0 (the "License");
 * you may not use this file except in compliance with the License.
 * You may obtain a copy of the License at
 *
 *     http://www.apache.org/licenses/LICENSE-2.0
 *
 * Unless required by applicable law or agreed to in writing, software
 * distributed under the License is distributed on an "AS IS" BASIS,
 * WITHOUT WARRANTIES OR CONDITIONS OF ANY KIND, either express or implied.
 * See the License for the specific language governing permissions and
 * limitations under the License.
 */

/*!
 * \file support/socket.h (installed by the build as <build>/src/support/socket.h)
 * \brief Thin wrappers over POSIX TCP sockets for the RPC runtime.
 *
 * This is edgec's own implementation of the interface that TVM's runtime sources expect
 * from "src/support/socket.h". It exists because TVM's PyPI wheel ships the runtime sources
 * but not this header; it was written from how src/runtime/rpc/rpc_socket_impl.cc uses it.
 * POSIX only (Linux).
 *
 * A TCPSocket is a plain handle: copying it copies the descriptor, and destroying it does
 * not close the descriptor; whoever owns the connection calls Close().
 */
#ifndef TVM_SUPPORT_SOCKET_H_
#define TVM_SUPPORT_SOCKET_H_

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/socket.h>
#include <sys/types.h>
#include <unistd.h>
#include <tvm/ffi/error.h>

#include <cstdint>
#include <cstring>
#include <sstream>
#include <string>

namespace tvm {
namespace support {

/*! \brief A resolved socket address (IPv4 or IPv6) and port. */
class SockAddr {
 public:
  SockAddr() { std::memset(&addr_, 0, sizeof(addr_)); }

  /*!
   * \brief Resolve `url` (a host name or a numeric IPv4/IPv6 address) and `port`. The first
   *  address that getaddrinfo returns is used.
   */
  SockAddr(const char* url, int port) : SockAddr() { Set(url, port); }

  void Set(const char* url, int port) {
    std::string host(url);
    // Accept "[v6addr]" as well as a bare address.
    if (host.size() >= 2 && host.front() == '[' && host.back() == ']') {
      host = host.substr(1, host.size() - 2);
    }
    struct addrinfo hints;
    std::memset(&hints, 0, sizeof(hints));
    hints.ai_family = AF_UNSPEC;
    hints.ai_socktype = SOCK_STREAM;
    struct addrinfo* res = nullptr;
    std::string service = std::to_string(port);
    int err = getaddrinfo(host.c_str(), service.c_str(), &hints, &res);
    TVM_FFI_ICHECK(err == 0 && res != nullptr)
        << "cannot resolve address " << url << ":" << port << ": " << gai_strerror(err);
    std::memcpy(&addr_, res->ai_addr, res->ai_addrlen);
    addrlen_ = static_cast<socklen_t>(res->ai_addrlen);
    freeaddrinfo(res);
  }

  /*! \return The address family (AF_INET or AF_INET6). */
  int ss_family() const { return addr_.ss_family; }

  /*! \return "host:port" text of the address. */
  std::string AsString() const {
    char host[INET6_ADDRSTRLEN] = {0};
    int port = 0;
    if (addr_.ss_family == AF_INET) {
      const auto* a = reinterpret_cast<const sockaddr_in*>(&addr_);
      inet_ntop(AF_INET, &a->sin_addr, host, sizeof(host));
      port = ntohs(a->sin_port);
    } else if (addr_.ss_family == AF_INET6) {
      const auto* a = reinterpret_cast<const sockaddr_in6*>(&addr_);
      inet_ntop(AF_INET6, &a->sin6_addr, host, sizeof(host));
      port = ntohs(a->sin6_port);
    }
    std::ostringstream os;
    os << host << ":" << port;
    return os.str();
  }

  const sockaddr* addr() const { return reinterpret_cast<const sockaddr*>(&addr_); }
  socklen_t addrlen() const { return addrlen_; }

 private:
  sockaddr_storage addr_;
  socklen_t addrlen_{0};
};

/*! \brief A socket descriptor with error reporting. */
class Socket {
 public:
  using SockType = int;
  static constexpr SockType kInvalidSocket = -1;

  SockType sockfd;

  /*! \brief Throw an error for the failed operation `msg`, with the errno text. */
  static void Error(const char* msg) {
    int err = errno;
    TVM_FFI_THROW(InternalError) << "Socket " << msg << " Error: " << std::strerror(err);
  }

  /*! \brief Whether the last failure was only "try again" (non-blocking sockets). */
  static bool LastErrorWouldBlock() {
    int err = errno;
    return err == EAGAIN || err == EWOULDBLOCK;
  }

  /*!
   * \brief Whether the descriptor is not a usable socket (invalid or already closed), in
   *  which case it must not be closed again.
   */
  bool BadSocket() const {
    if (IsClosed()) return true;
    int err = 0;
    socklen_t len = sizeof(err);
    return getsockopt(sockfd, SOL_SOCKET, SO_ERROR, &err, &len) != 0;
  }

  bool IsClosed() const { return sockfd == kInvalidSocket; }

  /*! \brief Switch non-blocking mode on or off. */
  void SetNonBlock(bool non_block) {
    int flags = fcntl(sockfd, F_GETFL, 0);
    if (flags == -1) Error("SetNonBlock");
    flags = non_block ? (flags | O_NONBLOCK) : (flags & ~O_NONBLOCK);
    if (fcntl(sockfd, F_SETFL, flags) == -1) Error("SetNonBlock");
  }

  /*! \brief Bind to `addr`. */
  void Bind(const SockAddr& addr) {
    if (bind(sockfd, addr.addr(), addr.addrlen()) == -1) Error("Bind");
  }

  /*! \brief Close the descriptor (no-op when already closed). */
  void Close() {
    if (sockfd != kInvalidSocket) {
      close(sockfd);
      sockfd = kInvalidSocket;
    }
  }

 protected:
  explicit Socket(SockType fd) : sockfd(fd) {}
};

/*! \brief A TCP stream socket. */
class TCPSocket : public Socket {
 public:
  TCPSocket() : Socket(kInvalidSocket) {}
  /*! \brief Wrap an existing descriptor (not taking ownership). */
  explicit TCPSocket(SockType fd) : Socket(fd) {}

  /*! \brief Create a new stream socket of address family `af` (AF_INET by default). */
  void Create(int af = AF_INET) {
    sockfd = socket(af, SOCK_STREAM, 0);
    if (sockfd == kInvalidSocket) Error("Create");
  }

  /*! \brief Connect to `addr`; false when the connection fails. */
  bool Connect(const SockAddr& addr) {
    int ret;
    do {
      ret = connect(sockfd, addr.addr(), addr.addrlen());
    } while (ret == -1 && errno == EINTR);
    return ret == 0;
  }

  /*! \brief Enable or disable SO_KEEPALIVE. */
  void SetKeepAlive(bool keepalive) {
    int opt = keepalive ? 1 : 0;
    if (setsockopt(sockfd, SOL_SOCKET, SO_KEEPALIVE, &opt, sizeof(opt)) != 0) {
      Error("SetKeepAlive");
    }
  }

  /*! \brief Listen for connections. */
  void Listen(int backlog = 16) {
    if (listen(sockfd, backlog) == -1) Error("Listen");
  }

  /*! \brief Accept one connection. */
  TCPSocket Accept() {
    SockType fd;
    do {
      fd = accept(sockfd, nullptr, nullptr);
    } while (fd == kInvalidSocket && errno == EINTR);
    if (fd == kInvalidSocket) Error("Accept");
    return TCPSocket(fd);
  }

  /*!
   * \brief Send up to `len` bytes (one send call, retried on EINTR).
   * \return Bytes sent, or -1 on error (errno set).
   */
  ssize_t Send(const void* buf, size_t len, int flags = 0) {
    ssize_t n;
    do {
      n = send(sockfd, buf, len, flags | MSG_NOSIGNAL);
    } while (n == -1 && errno == EINTR);
    return n;
  }

  /*!
   * \brief Receive up to `len` bytes (one recv call, retried on EINTR).
   * \return Bytes received, 0 when the peer closed, or -1 on error (errno set).
   */
  ssize_t Recv(void* buf, size_t len, int flags = 0) {
    ssize_t n;
    do {
      n = recv(sockfd, buf, len, flags);
    } while (n == -1 && errno == EINTR);
    return n;
  }

  /*!
   * \brief Send all `len` bytes, throwing on error.
   * \return `len`.
   */
  size_t SendAll(const void* buf, size_t len) {
    const char* p = static_cast<const char*>(buf);
    size_t done = 0;
    while (done < len) {
      ssize_t n = Send(p + done, len - done);
      if (n == -1) Error("SendAll");
      done += static_cast<size_t>(n);
    }
    return done;
  }

  /*!
   * \brief Receive `len` bytes, throwing on error.
   * \return The bytes received: `len`, or fewer if the peer closed first.
   */
  size_t RecvAll(void* buf, size_t len) {
    char* p = static_cast<char*>(buf);
    size_t done = 0;
    while (done < len) {
      ssize_t n = Recv(p + done, len - done, MSG_WAITALL);
      if (n == -1) Error("RecvAll");
      if (n == 0) break;
      done += static_cast<size_t>(n);
    }
    return done;
  }

  /*! \brief Send a string: its int32 length, then its bytes. */
  void SendBytes(const std::string& data) {
    int32_t len = static_cast<int32_t>(data.size());
    SendAll(&len, sizeof(len));
    if (len != 0) SendAll(data.data(), data.size());
  }

  /*! \brief Receive a string sent by SendBytes. */
  std::string RecvBytes() {
    int32_t len = 0;
    TVM_FFI_ICHECK_EQ(RecvAll(&len, sizeof(len)), sizeof(len)) << "connection closed";
    std::string data(static_cast<size_t>(len), '\0');
    if (len != 0) {
      TVM_FFI_ICHECK_EQ(RecvAll(&data[0], data.size()), data.size()) << "connection closed";
    }
    return data;
  }
};

}  // namespace support
}  // namespace tvm

#endif  // TVM_SUPPORT_SOCKET_H_
