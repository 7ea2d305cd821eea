package eventhubs_test

import (
	"context"
	"errors"
	"fmt"

	"github.com/Azure/azure-sdk-for-go/sdk/messaging/azeventhubs/v2"

	"github.com/tidemark/tidemark/eventhubs"
)

// Two processors share a consumer group, each with its own CheckpointStore
// on one store, as the Processor's load balancer drives them: the first
// creates and checkpoints a partition, the second takes it over with the ETag
// it listed, and from then on the first one's checkpoints are refused. In a
// program, pass the CheckpointStore to azeventhubs.NewProcessor instead of
// calling it yourself.
func ExampleCheckpointStore() {
	ctx := context.Background()
	a, err := eventhubs.Open(ctx, "mem://example-eventhubs", nil)
	if err != nil {
		fmt.Println(err)
		return
	}
	defer func() { _ = a.Close() }()
	b, err := eventhubs.Open(ctx, "mem://example-eventhubs", nil)
	if err != nil {
		fmt.Println(err)
		return
	}
	defer func() { _ = b.Close() }()

	group := azeventhubs.Ownership{FullyQualifiedNamespace: "example.servicebus.windows.net",
		EventHubName: "orders", ConsumerGroup: "$Default", PartitionID: "0"}
	first, second := group, group
	first.OwnerID, second.OwnerID = "processor-a", "processor-b"

	claimed, _ := a.ClaimOwnership(ctx, []azeventhubs.Ownership{first}, nil) // nil ETag: create
	fmt.Println("a claimed:", len(claimed))
	offset, seq := "4096", int64(57)
	cp := azeventhubs.Checkpoint{FullyQualifiedNamespace: group.FullyQualifiedNamespace, EventHubName: group.EventHubName,
		ConsumerGroup: group.ConsumerGroup, PartitionID: "0", Offset: &offset, SequenceNumber: &seq}
	fmt.Println("a checkpoints:", a.SetCheckpoint(ctx, cp, nil))

	listed, _ := b.ListOwnership(ctx, group.FullyQualifiedNamespace, group.EventHubName, group.ConsumerGroup, nil)
	second.ETag = listed[0].ETag
	claimed, _ = b.ClaimOwnership(ctx, []azeventhubs.Ownership{second}, nil)
	fmt.Println("b took over:", len(claimed), claimed[0].OwnerID)

	seq++
	err = a.SetCheckpoint(ctx, cp, nil)
	fmt.Println("a's next checkpoint refused:", errors.Is(err, eventhubs.ErrNotOwner))
	// Output:
	// a claimed: 1
	// a checkpoints: <nil>
	// b took over: 1 processor-b
	// a's next checkpoint refused: true
}
