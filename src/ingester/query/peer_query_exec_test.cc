// PeerQueryExec over real parts: two (or three) miniature ingesters, each with its own
// catalog, buffer and object store (QueryFixture), the peers served by the real Flight
// service on loopback.
#include "ingester/query/peer_query_exec.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <chrono>

#include "ingester/common/error.h"
#include "ingester/common/thread_annotations.h"
#include "ingester/query/query_test_util.h"

namespace ingester::query {
namespace {

using ::testing::ElementsAre;
using ::testing::HasSubstr;
using ::testing::Not;
using ::testing::UnorderedElementsAre;
using namespace ::ingester::query::testing;  // NOLINT

std::string T(int64_t t) { return std::to_string(t); }

// One ingester: the fixture, its Flight service (serving its peers' buffer requests
// through its PeerQueryExec, as the server does) and its PeerQueryExec.
class Node {
 public:
  explicit Node(std::string id) : id_(std::move(id)) {
    FlightServiceOptions options;
    options.port = 0;
    options.ingester_id = id_;
    service_ =
        FlightService::Start(options, &served_, f_.writer(), f_.Lister()).ValueOrDie();
  }
  ~Node() { (void)service_->Shutdown(); }

  std::string address() const { return "127.0.0.1:" + std::to_string(service_->port()); }

  // Its PeerQueryExec over these peers.
  void Peer(std::vector<std::string> peers,
            std::chrono::milliseconds timeout = std::chrono::seconds(10)) {
    PeerQueryExecOptions options;
    options.ingester_id = id_;
    options.peers = std::move(peers);
    options.timeout = timeout;
    options.resolver = std::make_shared<CatalogTableResolver>(f_.catalog());
    options.max_batch_rows = 2;
    registry_ = std::make_unique<MetricsRegistry>();
    options.metrics = registry_.get();
    std::shared_ptr<PeerQueryExec> exec =
        PeerQueryExec::Make(Borrow(f_.exec()), options).ValueOrDie();
    MutexLock lock(&mu_);
    exec_ = std::move(exec);
  }

  arrow::Result<std::unique_ptr<QueryResponse>> Query(const QueryRequest& request) {
    return exec()->Query(request);
  }

  std::vector<std::string> Rows(const QueryRequest& request = Request()) {
    auto response = Query(request);
    EXPECT_TRUE(response.ok()) << response.status().ToString();
    if (!response.ok()) return {};
    auto collected = CollectAll(response->get());
    EXPECT_TRUE(collected.ok()) << collected.status().ToString();
    return collected.ok() ? testing::Rows(*collected) : std::vector<std::string>{};
  }

  QueryFixture& f() { return f_; }
  std::string Metrics() const { return registry_->RenderText(); }

 private:
  // What the Flight service answers with: the PeerQueryExec once set (it passes buffer
  // requests through), else the fixture's exec.
  class Served final : public QueryExec {
   public:
    explicit Served(Node* node) : node_(node) {}
    arrow::Result<std::unique_ptr<QueryResponse>> Query(const QueryRequest& r) override {
      if (auto exec = node_->exec(); exec != nullptr) return exec->Query(r);
      return node_->f_.exec()->Query(r);
    }

   private:
    Node* const node_;
  };

  const std::string id_;
  QueryFixture f_;
  Served served_{this};
  std::unique_ptr<FlightService> service_;
  std::shared_ptr<PeerQueryExec> exec() {
    MutexLock lock(&mu_);
    return exec_;
  }

  std::unique_ptr<MetricsRegistry> registry_;
  // Set by the test thread, read by the Flight service's threads (the hand-over between
  // them goes through gRPC, which TSan does not see).
  Mutex mu_;
  std::shared_ptr<PeerQueryExec> exec_ GUARDED_BY(mu_);
};

// A loopback port that accepts connections (the kernel completes them) but never
// answers: a peer that hangs.
class SilentPort {
 public:
  SilentPort() {
    fd_ = ::socket(AF_INET, SOCK_STREAM, 0);
    sockaddr_in addr{};
    addr.sin_family = AF_INET;
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    addr.sin_port = 0;
    EXPECT_EQ(::bind(fd_, reinterpret_cast<sockaddr*>(&addr), sizeof addr), 0);
    EXPECT_EQ(::listen(fd_, 16), 0);
    socklen_t len = sizeof addr;
    ::getsockname(fd_, reinterpret_cast<sockaddr*>(&addr), &len);
    port_ = ntohs(addr.sin_port);
  }
  ~SilentPort() { ::close(fd_); }
  std::string address() const { return "127.0.0.1:" + std::to_string(port_); }

 private:
  int fd_ = -1;
  int port_ = 0;
};

// A port nothing listens on: a peer that is down.
std::string DownAddress() {
  const int fd = ::socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  ::bind(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr);
  socklen_t len = sizeof addr;
  ::getsockname(fd, reinterpret_cast<sockaddr*>(&addr), &len);
  ::close(fd);
  return "127.0.0.1:" + std::to_string(ntohs(addr.sin_port));
}

TEST(PeerQueryExecTest, ReturnsTheRowsOfEveryIngester) {
  Node a("ingester-a"), b("ingester-b");
  a.Peer({b.address()});
  a.f().Write("cpu,host=a usage=1 " + T(kDay1 + 10) + "\n");
  b.f().Write("cpu,host=b usage=2 " + T(kDay1 + 10) + "\n" + "cpu,host=c usage=3 " +
              T(kDay2 + 10) + "\n");
  EXPECT_THAT(a.Rows(), ElementsAre("host=a usage=1 time=" + T(kDay1 + 10),
                                    "host=b usage=2 time=" + T(kDay1 + 10),
                                    "host=c usage=3 time=" + T(kDay2 + 10)));
  // Partitions stay in key order; the day only the peer has comes second.
  auto response = a.Query(Request()).ValueOrDie();
  auto collected = CollectAll(response.get()).ValueOrDie();
  EXPECT_THAT(Keys(collected), ElementsAre("2023-11-14", "2023-11-15"));
  EXPECT_EQ(collected[0].info.buffer_rows, 2);  // one of its own, one of its peer's
  EXPECT_FALSE(MissingPeers(*response->schema()).has_value());
}

// Separate catalogs (unlike a cluster's one) create columns in write order: both get
// the same columns in the same order from this line, which queries then return too.
const std::string kSchemaLine = "cpu,host=z usage=0,count=0i,extra=0i " + T(kDay3) + "\n";

// The same series and time in two buffers (a namespace that failed over): the greatest
// ingester id wins, field by field, whichever ingester is asked.
TEST(PeerQueryExecTest, DuplicatesAcrossBuffersResolveByIngesterIdOnEveryIngester) {
  Node a("ingester-a"), b("ingester-b");
  a.Peer({b.address()});
  b.Peer({a.address()});
  a.f().Write(kSchemaLine);
  b.f().Write(kSchemaLine);
  const std::string t = T(kDay1 + 10);
  a.f().Write("cpu,host=x usage=2,count=2i " + t + "\n" + "cpu,host=y usage=7 " + t +
              "\n");
  b.f().Write("cpu,host=x usage=3 " + t + "\n" + "cpu,host=y count=8i " + t + "\n");
  const auto expected = ElementsAre("host=x usage=3 count=2 extra=null time=" + t,
                                    "host=y usage=7 count=8 extra=null time=" + t,
                                    "host=z usage=0 count=0 extra=0 time=" + T(kDay3));
  EXPECT_THAT(a.Rows(), expected);
  EXPECT_THAT(b.Rows(), expected);
}

// Buffered rows win over persisted ones, whoever persisted them.
TEST(PeerQueryExecTest, PeerBuffersWinOverPersistedRows) {
  Node a("ingester-b"), b("ingester-a");  // the peer has the smaller id
  a.Peer({b.address()});
  a.f().Write(kSchemaLine);
  b.f().Write(kSchemaLine);
  const std::string t = T(kDay1 + 10);
  a.f().Write("cpu,host=x usage=1,count=1i,extra=9i " + t + "\n");
  a.f().Persist("cpu", "2023-11-14");
  b.f().Write("cpu,host=x usage=3 " + t + "\n");
  EXPECT_THAT(a.Rows(Request({}, {Predicate{{kDay1, kDay2}, {}}})),
              ElementsAre("host=x usage=3 count=1 extra=9 time=" + t));
  // With a later value of its own buffered, the greater id (its own) wins.
  a.f().Write("cpu,host=x usage=2 " + t + "\n");
  EXPECT_THAT(a.Rows(Request({}, {Predicate{{kDay1, kDay2}, {}}})),
              ElementsAre("host=x usage=2 count=1 extra=9 time=" + t));
}

// A narrow projection still de-duplicates on the whole key (the tags it does not return).
TEST(PeerQueryExecTest, ProjectionsDeduplicateOnTheWholeKey) {
  Node a("ingester-a"), b("ingester-b");
  a.Peer({b.address()});
  a.f().Write(kSchemaLine);
  b.f().Write(kSchemaLine);
  const std::string t = T(kDay1 + 10);
  a.f().Write("cpu,host=x usage=1 " + t + "\n" + "cpu,host=y usage=5 " + t + "\n");
  b.f().Write("cpu,host=x usage=2 " + t + "\n");
  auto response = a.Query(Request({"usage"})).ValueOrDie();
  EXPECT_EQ(response->schema()->num_fields(), 1);
  EXPECT_THAT(Rows(CollectAll(response.get()).ValueOrDie()),
              ElementsAre("usage=2", "usage=5", "usage=0"));
}

TEST(PeerQueryExecTest, APeerThatIsDownFailsTheQueryUnlessPartial) {
  Node a("ingester-a"), b("ingester-b");
  const std::string down = DownAddress();
  a.Peer({b.address(), down});
  a.f().Write(kSchemaLine);
  b.f().Write(kSchemaLine);
  a.f().Write("cpu,host=a usage=1 " + T(kDay1) + "\n");
  b.f().Write("cpu,host=b usage=2 " + T(kDay1) + "\n");

  auto failed = a.Query(Request());
  ASSERT_FALSE(failed.ok());
  EXPECT_EQ(ErrorKindOf(failed.status()), ErrorKind::kRetryable);
  EXPECT_THAT(failed.status().message(), HasSubstr("peer " + down + " failed"));
  EXPECT_THAT(failed.status().message(), HasSubstr("\"partial\": true"));
  EXPECT_THAT(failed.status().message(), Not(HasSubstr("debug context")));

  QueryRequest partial = Request();
  partial.partial = true;
  auto response = a.Query(partial);
  ASSERT_TRUE(response.ok()) << response.status().ToString();
  EXPECT_THAT(MissingPeers(*(*response)->schema()),
              ::testing::Optional(ElementsAre(down)));
  EXPECT_THAT(Rows(CollectAll(response->get()).ValueOrDie()),
              ElementsAre("host=a usage=1 count=null extra=null time=" + T(kDay1),
                          "host=b usage=2 count=null extra=null time=" + T(kDay1),
                          "host=z usage=0 count=0 extra=0 time=" + T(kDay3)));

  EXPECT_THAT(a.Metrics(), HasSubstr("ingester_query_peer_requests_total{peer=\"" + down +
                                     "\",outcome=\"error\"} 2"));
  EXPECT_THAT(a.Metrics(), HasSubstr("ingester_query_peer_requests_total{peer=\"" +
                                     b.address() + "\",outcome=\"ok\"} 2"));

  // All peers answering: a partial query says so with an empty list.
  a.Peer({b.address()});
  auto complete = a.Query(partial).ValueOrDie();
  EXPECT_THAT(MissingPeers(*complete->schema()), ::testing::Optional(ElementsAre()));
}

TEST(PeerQueryExecTest, APeerThatHangsIsBoundedByTheTimeout) {
  Node a("ingester-a");
  SilentPort silent;
  a.Peer({silent.address()}, std::chrono::milliseconds(300));
  a.f().Write("cpu,host=a usage=1 " + T(kDay1) + "\n");
  const auto start = std::chrono::steady_clock::now();
  auto failed = a.Query(Request());
  EXPECT_LT(std::chrono::steady_clock::now() - start, std::chrono::seconds(5));
  ASSERT_FALSE(failed.ok());
  EXPECT_THAT(failed.status().message(), HasSubstr("peer " + silent.address()));
  QueryRequest partial = Request();
  partial.partial = true;
  auto response = a.Query(partial).ValueOrDie();
  EXPECT_THAT(MissingPeers(*response->schema()),
              ::testing::Optional(ElementsAre(silent.address())));
  EXPECT_THAT(Rows(CollectAll(response.get()).ValueOrDie()),
              ElementsAre("host=a usage=1 time=" + T(kDay1)));
}

TEST(PeerQueryExecTest, BufferRequestsNeverFanOut) {
  Node a("ingester-a");
  a.Peer({DownAddress()});
  a.f().Write("cpu,host=a usage=1 " + T(kDay1) + "\n");
  a.f().Persist("cpu", "2023-11-14");
  a.f().Write("cpu,host=b usage=2 " + T(kDay1) + "\n");
  QueryRequest buffer = Request();
  buffer.scope = QueryScope::kBuffer;
  // Its own buffer only: no file, no peer (which is down).
  EXPECT_THAT(a.Rows(buffer), ElementsAre("host=b usage=2 time=" + T(kDay1)));
}

TEST(PeerQueryExecTest, ATableThePeerDoesNotKnowIsNotAnError) {
  Node a("ingester-a"), b("ingester-b");
  a.Peer({b.address()});
  a.f().Write("mem,host=a free=1 " + T(kDay1) + "\n");
  b.f().Write("cpu,host=b usage=2 " + T(kDay1) + "\n");
  EXPECT_THAT(a.Rows(Request({}, {}, "mem")),
              ElementsAre("host=a free=1 time=" + T(kDay1)));
}

TEST(PeerQueryExecTest, APeerWithTheSameIdIsRefused) {
  Node a("ingester-a"), b("ingester-a");
  a.Peer({b.address()});
  a.f().Write(kSchemaLine);
  b.f().Write(kSchemaLine);
  auto failed = a.Query(Request());
  ASSERT_FALSE(failed.ok());
  EXPECT_THAT(failed.status().message(), HasSubstr("this ingester's own id"));
}

}  // namespace
}  // namespace ingester::query
