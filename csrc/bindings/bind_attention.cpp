// Python bindings of the fused CPU attention (tensorforge/attention.h) on numpy arrays.
//
// q (N, L, E), k (N, S, E), v (N, S, Ev), out (N, L, Ev), lse (N, L): C-contiguous, one float dtype.
// mask (optional): bool (True = attend) or the q dtype (added to the scores), shape
// batch_shape + (L, S) with prod(batch_shape) == N, any non-negative strides (0 broadcasts) and
// unit stride along S; the binding turns its batch strides into one element offset per problem.
// The GIL is released during the kernels.
#include <tensorforge/attention.h>

#include <vector>

#include "array_checks.h"

namespace tf::bind {
namespace {

void require_contiguous(const py::array& a, const char* name) {
    if (!(a.flags() & py::array::c_style))
        throw py::value_error(std::string(name) + " must be C-contiguous, shape " + shape_str(a));
}

void require_shape(const py::array& a, std::vector<int64_t> shape, const char* name) {
    bool ok = a.ndim() == static_cast<py::ssize_t>(shape.size());
    for (size_t i = 0; ok && i < shape.size(); ++i) ok = a.shape(i) == shape[i];
    if (!ok) {
        std::string want = "(";
        for (size_t i = 0; i < shape.size(); ++i) want += (i ? ", " : "") + std::to_string(shape[i]);
        throw py::value_error(std::string(name) + " has shape " + shape_str(a) + ", expected " + want + ")");
    }
}

struct Problem {
    AttentionShape shape;
    std::vector<int64_t> mask_offsets;
    int64_t mask_row_stride = 0;
    bool mask_is_bool = false;
};

Problem check(const py::array& q, const py::array& k, const py::array& v, const py::object& mask) {
    require_ndim(q, 3, 3, "q");
    require_float(q, "q");
    require_same_dtype(q, k, "q", "k");
    require_same_dtype(q, v, "q", "v");
    Problem p;
    AttentionShape& s = p.shape;
    s.batch = q.shape(0), s.L = q.shape(1), s.E = q.shape(2);
    require_ndim(k, 3, 3, "k");
    require_ndim(v, 3, 3, "v");
    s.S = k.shape(1), s.Ev = v.shape(2);
    require_shape(k, {s.batch, s.S, s.E}, "k");
    require_shape(v, {s.batch, s.S, s.Ev}, "v");
    for (auto [a, name] : {std::pair{&q, "q"}, {&k, "k"}, {&v, "v"}}) require_contiguous(*a, name);
    if (mask.is_none()) return p;
    py::array m = mask.cast<py::array>();
    p.mask_is_bool = m.dtype().kind() == 'b';
    if (!p.mask_is_bool) require_same_dtype(q, m, "q", "mask");
    if (m.ndim() < 2 || m.shape(m.ndim() - 2) != s.L || m.shape(m.ndim() - 1) != s.S)
        throw py::value_error("mask must end in (L, S) = (" + std::to_string(s.L) + ", " + std::to_string(s.S) +
                              "), got shape " + shape_str(m));
    int64_t count = 1;
    for (py::ssize_t d = 0; d < m.ndim(); ++d) {
        if (m.strides(d) < 0) throw py::value_error("mask has a negative stride; pass a copy");
        if (d < m.ndim() - 2) count *= m.shape(d);
    }
    if (count != s.batch)
        throw py::value_error("mask batch dims " + shape_str(m) + " do not hold N = " + std::to_string(s.batch) +
                              " problems");
    if (s.S > 1 && elem_stride(m, m.ndim() - 1, "mask") != 1)
        throw py::value_error("mask must have unit stride along its last dimension");
    p.mask_row_stride = elem_stride(m, m.ndim() - 2, "mask");
    p.mask_offsets.assign(s.batch, 0);
    const int nb = static_cast<int>(m.ndim()) - 2;
    for (int64_t n = 0; n < s.batch; ++n) {
        int64_t rest = n, off = 0;
        for (int d = nb - 1; d >= 0; --d) {
            off += (rest % m.shape(d)) * elem_stride(m, d, "mask");
            rest /= m.shape(d);
        }
        p.mask_offsets[n] = off;
    }
    return p;
}

template <typename T>
AttentionMask<T> mask_of(const Problem& p, const py::object& mask, bool causal) {
    AttentionMask<T> m;
    m.causal = causal;
    if (mask.is_none()) return m;
    py::array a = mask.cast<py::array>();
    if (p.mask_is_bool) m.boolean = static_cast<const uint8_t*>(a.data());
    else m.additive = static_cast<const T*>(a.data());
    m.batch_offset = p.mask_offsets.data();
    m.row_stride = p.mask_row_stride;
    return m;
}

AttentionDropout dropout_of(double p, uint64_t seed) {
    if (!(p >= 0.0 && p < 1.0)) throw py::value_error("dropout_p must be in [0, 1), got " + std::to_string(p));
    return {p, seed};
}

void check_out(const py::array& a, const py::array& q, std::vector<int64_t> shape, const char* name) {
    require_same_dtype(q, a, "q", name);
    require_shape(a, shape, name);
    require_contiguous(a, name);
    require_writeable(a, name);
}

void forward(const py::array& q, const py::array& k, const py::array& v, py::array& out, py::array& lse,
             double scale, const py::object& mask, bool causal, double dropout_p, uint64_t seed) {
    Problem p = check(q, k, v, mask);
    const AttentionShape& s = p.shape;
    check_out(out, q, {s.batch, s.L, s.Ev}, "out");
    check_out(lse, q, {s.batch, s.L}, "lse");
    AttentionDropout drop = dropout_of(dropout_p, seed);
    if (q.itemsize() == 4) {
        AttentionMask<float> m = mask_of<float>(p, mask, causal);
        auto qp = static_cast<const float*>(q.data()), kp = static_cast<const float*>(k.data()),
             vp = static_cast<const float*>(v.data());
        auto op = static_cast<float*>(out.mutable_data()), lp = static_cast<float*>(lse.mutable_data());
        py::gil_scoped_release nogil;
        cpu::attention_forward(s, static_cast<float>(scale), qp, kp, vp, m, drop, op, lp);
    } else {
        AttentionMask<double> m = mask_of<double>(p, mask, causal);
        auto qp = static_cast<const double*>(q.data()), kp = static_cast<const double*>(k.data()),
             vp = static_cast<const double*>(v.data());
        auto op = static_cast<double*>(out.mutable_data()), lp = static_cast<double*>(lse.mutable_data());
        py::gil_scoped_release nogil;
        cpu::attention_forward(s, scale, qp, kp, vp, m, drop, op, lp);
    }
}

template <typename T>
void run_backward(const Problem& p, double scale, const py::array& q, const py::array& k, const py::array& v,
                  const py::object& mask, bool causal, const AttentionDropout& drop, const py::array& out,
                  const py::array& lse, const py::array& dout, py::array& dq, py::array& dk, py::array& dv,
                  const py::object& dmask) {
    AttentionMask<T> m = mask_of<T>(p, mask, causal);
    auto c = [](const py::array& a) { return static_cast<const T*>(a.data()); };
    auto w = [](py::array& a) { return static_cast<T*>(a.mutable_data()); };
    T* dm = nullptr;
    if (!dmask.is_none()) {
        py::array a = dmask.cast<py::array>();
        dm = w(a);
    }
    const T *qp = c(q), *kp = c(k), *vp = c(v), *op = c(out), *lp = c(lse), *gp = c(dout);
    T *dqp = w(dq), *dkp = w(dk), *dvp = w(dv);
    py::gil_scoped_release nogil;
    cpu::attention_backward(p.shape, static_cast<T>(scale), qp, kp, vp, m, drop, op, lp, gp, dqp, dkp, dvp, dm);
}

void backward(const py::array& q, const py::array& k, const py::array& v, const py::array& out,
              const py::array& lse, const py::array& dout, py::array& dq, py::array& dk, py::array& dv, double scale,
              const py::object& mask, bool causal, double dropout_p, uint64_t seed, const py::object& dmask) {
    Problem p = check(q, k, v, mask);
    const AttentionShape& s = p.shape;
    for (auto [a, shape, name] : {std::tuple{&out, std::vector<int64_t>{s.batch, s.L, s.Ev}, "out"},
                                  {&dout, {s.batch, s.L, s.Ev}, "dout"},
                                  {&lse, {s.batch, s.L}, "lse"}}) {
        require_same_dtype(q, *a, "q", name);
        require_shape(*a, shape, name);
        require_contiguous(*a, name);
    }
    check_out(dq, q, {s.batch, s.L, s.E}, "dq");
    check_out(dk, q, {s.batch, s.S, s.E}, "dk");
    check_out(dv, q, {s.batch, s.S, s.Ev}, "dv");
    if (!dmask.is_none()) {
        if (mask.is_none() || p.mask_is_bool) throw py::value_error("dmask needs an additive (float) mask");
        check_out(dmask.cast<py::array>(), q, {s.batch, s.L, s.S}, "dmask");
    }
    AttentionDropout drop = dropout_of(dropout_p, seed);
    if (q.itemsize() == 4) run_backward<float>(p, scale, q, k, v, mask, causal, drop, out, lse, dout, dq, dk, dv, dmask);
    else run_backward<double>(p, scale, q, k, v, mask, causal, drop, out, lse, dout, dq, dk, dv, dmask);
}

bool dropout_keep(double p, uint64_t seed, int64_t L, int64_t S, int64_t n, int64_t i, int64_t j) {
    AttentionShape s;
    s.L = L, s.S = S;
    return attention_dropout_keep({p, seed}, s, n, i, j);
}

}  // namespace

void register_attention(py::module_& m) {
    m.def("attention_forward", &forward, py::arg("q"), py::arg("k"), py::arg("v"), py::arg("out"), py::arg("lse"),
          py::kw_only(), py::arg("scale"), py::arg("mask") = py::none(), py::arg("causal") = false,
          py::arg("dropout_p") = 0.0, py::arg("seed") = 0,
          "Fused attention forward: out = softmax(scale q k^T + mask) v, lse = row log-sum-exp (our CPU kernel).");
    m.def("attention_backward", &backward, py::arg("q"), py::arg("k"), py::arg("v"), py::arg("out"), py::arg("lse"),
          py::arg("dout"), py::arg("dq"), py::arg("dk"), py::arg("dv"), py::kw_only(), py::arg("scale"),
          py::arg("mask") = py::none(), py::arg("causal") = false, py::arg("dropout_p") = 0.0, py::arg("seed") = 0,
          py::arg("dmask") = py::none(),
          "Fused attention backward from the saved lse: dq, dk, dv (and dmask, (N, L, S), for a float mask).");
    m.def("attention_dropout_keep", &dropout_keep, py::arg("p"), py::arg("seed"), py::arg("L"), py::arg("S"),
          py::arg("n"), py::arg("i"), py::arg("j"), "Whether the attention dropout mask keeps element (n, i, j).");
}

}  // namespace tf::bind
