// A grpc-go CSI client used by poolcsi's tests to dial the driver's unix socket the ways
// Go clients do: "unix" is today's default target; "legacy" is how older grpc-go releases
// (older kubelets and sidecars) dialed: a bare path through a custom dialer, with the socket
// path itself sent as the HTTP/2 :authority.
package main

import (
	"context"
	"fmt"
	"net"
	"os"
	"time"

	"github.com/container-storage-interface/spec/lib/go/csi"
	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"
)

func main() {
	if len(os.Args) != 3 {
		fmt.Fprintln(os.Stderr, "usage: goclient unix|legacy SOCKET")
		os.Exit(2)
	}
	mode, socket := os.Args[1], os.Args[2]
	opts := []grpc.DialOption{grpc.WithTransportCredentials(insecure.NewCredentials())}
	target := "unix://" + socket
	if mode == "legacy" {
		target = "passthrough:///" + socket
		opts = append(opts, grpc.WithContextDialer(func(ctx context.Context, addr string) (net.Conn, error) {
			return (&net.Dialer{}).DialContext(ctx, "unix", addr)
		}), grpc.WithAuthority(socket))
	}
	conn, err := grpc.NewClient(target, opts...)
	if err != nil {
		fmt.Fprintln(os.Stderr, "dial:", err)
		os.Exit(1)
	}
	defer conn.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	info, err := csi.NewIdentityClient(conn).GetPluginInfo(ctx, &csi.GetPluginInfoRequest{})
	if err != nil {
		fmt.Fprintln(os.Stderr, "GetPluginInfo:", err)
		os.Exit(1)
	}
	fmt.Println(info.GetName(), info.GetVendorVersion())
}
