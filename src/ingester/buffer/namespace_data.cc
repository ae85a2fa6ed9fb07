#include "ingester/buffer/namespace_data.h"

#include <utility>

#include "ingester/common/error.h"

namespace ingester {

DeferredLoad<std::string> MakeDeferredName(
    std::string_view given, const TreeContext& context,
    std::function<arrow::Result<std::string>(NameResolver&)> load, std::string what) {
  if (!given.empty()) return DeferredLoad<std::string>::Ready(std::string(given));
  DeferredLoad<std::string> name(
      [resolver = context.name_resolver, load = std::move(load),
       what = std::move(what)]() -> arrow::Result<std::string> {
        if (resolver == nullptr) {
          return NotFound("no name resolver configured to look up the name of " + what);
        }
        return load(*resolver);
      });
  return name;
}

void MaybePrefetch(const DeferredLoad<std::string>& name, const TreeContext& context) {
  if (context.name_prefetch && !name.IsLoaded()) name.Prefetch(context.name_prefetch);
}

NamespaceData::NamespaceData(NamespaceId namespace_id,
                             DeferredLoad<std::string> namespace_name,
                             std::shared_ptr<const TreeContext> context)
    : namespace_id_(namespace_id),
      namespace_name_(std::move(namespace_name)),
      context_(std::move(context)) {}

DeferredLoad<std::string> NamespaceData::MakeTableName(TableId table_id,
                                                       std::string_view given) const {
  return MakeDeferredName(
      given, *context_,
      [ns = namespace_id_, table_id](NameResolver& r) {
        return r.TableName(ns, table_id);
      },
      "table " + std::to_string(table_id.value()));
}

std::shared_ptr<TableData> NamespaceData::GetOrCreateTable(TableId table_id,
                                                           std::string_view table_name) {
  std::shared_ptr<TableData> table = Table(table_id);
  if (table == nullptr) {
    DeferredLoad<std::string> name = MakeTableName(table_id, table_name);
    bool inserted = false;
    {
      WriterLock lock(&mu_);
      auto [it, fresh] = tables_.try_emplace(table_id);
      if (fresh) {
        it->second = std::make_shared<TableData>(table_id, name, namespace_id_,
                                                 namespace_name_, context_);
      }
      inserted = fresh;
      table = it->second;  // when not fresh, another writer created it meanwhile
    }
    if (inserted) {
      MaybePrefetch(name, *context_);
      return table;
    }
  }
  // A node created during replay learns its name from the first write that carries it.
  if (!table_name.empty() && !table->table_name().IsLoaded()) {
    table->table_name().Seed(std::string(table_name));
  }
  return table;
}

std::shared_ptr<TableData> NamespaceData::Table(TableId table_id) const {
  ReaderLock lock(&mu_);
  auto it = tables_.find(table_id);
  return it == tables_.end() ? nullptr : it->second;
}

std::vector<std::shared_ptr<TableData>> NamespaceData::Tables() const {
  ReaderLock lock(&mu_);
  std::vector<std::shared_ptr<TableData>> out;
  out.reserve(tables_.size());
  for (const auto& [id, table] : tables_) out.push_back(table);
  return out;
}

}  // namespace ingester
