// Placeholder translation unit; replaced as the module grows.
namespace ingester {}
