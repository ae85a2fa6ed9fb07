#include "ingester/pipeline/write_gate.h"

#include <gtest/gtest.h>

#include <thread>

#include "ingester/common/error.h"

namespace ingester {
namespace {

using namespace std::chrono_literals;

TEST(WriteGate, ClosedGateRefusesAndAnIdleOneDrainsAtOnce) {
  WriteGate gate;
  ASSERT_TRUE(gate.Admit().ok());  // ticket dropped at once
  EXPECT_FALSE(gate.Close());
  EXPECT_TRUE(gate.Close());  // already closed
  auto refused = gate.Admit();
  ASSERT_FALSE(refused.ok());
  EXPECT_EQ(ErrorKindOf(refused.status()), ErrorKind::kBackpressure);
  EXPECT_TRUE(gate.Drain(std::chrono::steady_clock::now()));
}

TEST(WriteGate, DrainWaitsForAnAdmittedWriteThatLeaves) {
  WriteGate gate;
  auto ticket = gate.Admit();
  ASSERT_TRUE(ticket.ok());
  gate.Close();
  std::thread writer([t = std::move(*ticket)]() mutable {
    std::this_thread::sleep_for(20ms);
    t.reset();
  });
  EXPECT_TRUE(gate.Drain(std::chrono::steady_clock::now() + 60s));
  writer.join();
}

TEST(WriteGate, AtTheDeadlineAWriteNotYetApplyingIsRefused) {
  WriteGate gate;
  auto admitted = gate.Admit();
  ASSERT_TRUE(admitted.ok());
  gate.Close();
  EXPECT_FALSE(gate.Drain(std::chrono::steady_clock::now()));
  // The write held its admission past the deadline: it must not reach the WAL now.
  auto applying = gate.BeginApply();
  ASSERT_FALSE(applying.ok());
  EXPECT_NE(applying.status().message().find("--shutdown-timeout"), std::string::npos);
}

}  // namespace
}  // namespace ingester
