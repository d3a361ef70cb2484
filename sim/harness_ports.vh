    // The ports every harness has (``include``d into its port list by sim.top.render_harness;
    // the harness's own ports follow). They are public to VPI in a Verilator build, and
    // nothing else is (see sim.runner: a design all public simulates several times slower).
    input wire clk /*verilator public_flat_rw*/,
    input wire rst /*verilator public_flat_rw*/,
    input wire [REGS_W-1:0] regs /*verilator public_flat_rw*/,
    input wire host_req /*verilator public_flat_rw*/,
    input wire [31:0] host_count /*verilator public_flat_rw*/,
    output reg host_done /*verilator public_flat_rw*/,
    input wire sample_req /*verilator public_flat_rw*/,
    input wire [31:0] beat_count /*verilator public_flat_rw*/,
    input wire [15:0] gap_thr /*verilator public_flat_rw*/,
    input wire [15:0] stall_thr /*verilator public_flat_rw*/,
    input wire [31:0] seed /*verilator public_flat_rw*/,
    output reg sample_done /*verilator public_flat_rw*/,
    output reg [63:0] cycles /*verilator public_flat_rw*/,
