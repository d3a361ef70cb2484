// Simulation harness around the conv core (hw/conv_core.py): plays host scripts and input
// samples in the simulator and logs what the core answers, so that the cocotb testbench
// (sim/tb_conv.py) wakes once per script or sample instead of once per clock cycle. The same
// protocol as the layer core's harness (sim/harness.v, sim.harness.HarnessDriver).
//
// sim.conv_harness.render fills in the two generated parts (the lines marked CORE and
// KERNEL_READS between at signs), which depend on the core's geometry: the core's instance
// (its knobs from the `regs` word, ports of width zero left out) and the kernel reads (one
// case per lane, since a memory's name holds its lane).
//
// - host player (host_req / host_done): plays host_count entries of `host.hex`, one per cycle
//   (the core's host port takes a write in every cycle). An entry is {we, re, region (3 bits,
//   hw.conv_core.ConvRegion in the low bit), lane, addr, wdata}. A write goes to the core's
//   host port; a read (the core's host port has none yet) reads the kernel memory of that
//   region and lane directly and logs it as "H<hex>".
// - sample player (sim/sample_player.vh): streams `beats.hex` with `regs` (the knobs) held,
//   logs output beats "O<hex>", done when the END beat is taken.
//
// Every cycle whose probe is valid (a sweep row's leaked membranes) is logged as "P<binary>",
// every winner (learning) as "W<hex>". `counters`, `error` and `core_lfsr` are the core's.

`default_nettype none

module sim_harness #(
    parameter EVENT_W = 12,
    parameter PROBE_W = 77,
    parameter REGS_W = 80,
    parameter LANE_W = 2,
    parameter ADDR_W = 7,
    parameter DATA_W = 9,
    parameter WINNER_W = 15,
    parameter COUNTERS_W = 416,
    parameter PROBE_VALID_BIT = 0,
    parameter WINNER_VALID_BIT = 0,
    parameter END_BIT = 0,
    parameter MAX_BEATS = 1024,
    parameter MAX_HOST = 8192
) (
    // The ports are public to VPI in a Verilator build, and nothing else is (see sim.runner)
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
    output wire [1:0] error /*verilator public_flat_rw*/,
    output wire [COUNTERS_W-1:0] counters /*verilator public_flat_rw*/,
    output wire [31:0] core_lfsr /*verilator public_flat_rw*/,
    output reg [63:0] cycles /*verilator public_flat_rw*/
);
    /*verilator public_module*/
    localparam HOST_W = 2 + 3 + LANE_W + ADDR_W + DATA_W;

    // ---------------- the core ----------------
    wire [EVENT_W-1:0] in_payload;
    wire in_valid, in_ready;
    wire [EVENT_W-1:0] out_payload;
    wire out_valid, out_ready;
    wire [2:0] h_region;
    wire [LANE_W-1:0] h_lane;
    wire [ADDR_W-1:0] h_addr;
    wire [DATA_W-1:0] h_wdata;
    wire h_we;
    wire [PROBE_W-1:0] probe;
    wire [WINNER_W-1:0] winner;

@CORE@

    `include "sample_player.vh"

    // ---------------- host player ----------------
    reg [HOST_W-1:0] script [0:MAX_HOST-1];
    reg [31:0] host_ptr;
    reg host_busy, host_req_seen;
    reg [1:0] settle;  // cycles after the last entry before done (a write lands a cycle later)
    wire [HOST_W-1:0] entry = script[host_ptr];
    wire e_we = entry[HOST_W-1];
    wire e_re = entry[HOST_W-2];
    wire [2:0] e_region = entry[HOST_W-3 -: 3];
    wire [LANE_W-1:0] e_lane = entry[LANE_W+ADDR_W+DATA_W-1 -: LANE_W];
    wire [ADDR_W-1:0] e_addr = entry[ADDR_W+DATA_W-1 -: ADDR_W];
    wire [DATA_W-1:0] e_wdata = entry[DATA_W-1:0];
    wire issue = host_busy && host_ptr < host_count;

    assign h_region = e_region;
    assign h_lane = e_lane;
    assign h_addr = e_addr;
    assign h_wdata = e_wdata;
    assign h_we = issue && e_we;

    always @(posedge clk) begin
        if (rst) begin
            host_busy <= 1'b0;
            host_done <= 1'b0;
            host_req_seen <= 1'b0;
        end else if (host_req != host_req_seen) begin
            host_req_seen <= host_req;
            $readmemh("host.hex", script, 0, host_count - 1);
            host_ptr <= 32'd0;
            host_busy <= 1'b1;
            host_done <= 1'b0;
            settle <= 2'd0;
        end else if (host_busy) begin
            if (issue)
                host_ptr <= host_ptr + 32'd1;
            else begin
                settle <= settle + 2'd1;
                if (settle == 2'd3) begin
                    host_busy <= 1'b0;
                    host_done <= 1'b1;
                    $fflush(log_fd);
                end
            end
        end
    end

    // kernel reads: the memory word of the entry's region, lane and address
    always @(posedge clk)
        if (!rst && issue && e_re)
@KERNEL_READS@

    // ---------------- probe and winners ----------------
    always @(posedge clk) begin
        if (!rst && probe[PROBE_VALID_BIT])
            $fwrite(log_fd, "P%b\n", probe);
        if (!rst && winner[WINNER_VALID_BIT])
            $fwrite(log_fd, "W%h\n", winner);
    end
endmodule

`default_nettype wire
