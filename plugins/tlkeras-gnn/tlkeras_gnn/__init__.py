"""tlkeras-gnn: Keras 3 GNN backbones (GCN, GraphSAGE, GIN) and graph heads for tlkeras.

Importing the package registers the heads `"node_classifier"`,
`"graph_classifier"` and `"link_predictor"`; tlkeras imports it through the
`tlkeras.backbones` entry points the first time a GNN backbone is built.
"""

from tlkeras.heads import register_head
from tlkeras_gnn.attribute_masking import AttributeMasking
from tlkeras_gnn.backbones import gcn
from tlkeras_gnn.backbones import gin
from tlkeras_gnn.backbones import graphsage
from tlkeras_gnn.backbones import message_passing_backbone
from tlkeras_gnn.gcn_conv import GCNConv
from tlkeras_gnn.gin_conv import GINConv
from tlkeras_gnn.graph_backbone import GraphBackbone
from tlkeras_gnn.graph_batch import batch_graphs
from tlkeras_gnn.graph_batch import from_networkx
from tlkeras_gnn.graph_batch import graph_dataset
from tlkeras_gnn.graph_batch import graph_dataset_fn
from tlkeras_gnn.graph_batch import induced_subgraph
from tlkeras_gnn.graph_batch import node_dataset
from tlkeras_gnn.graph_batch import node_dataset_fn
from tlkeras_gnn.graph_batch import unbatch_graphs
from tlkeras_gnn.graph_classifier_head import GraphClassifierHead
from tlkeras_gnn.graph_contrastive import GraphContrastive
from tlkeras_gnn.graph_contrastive import nt_xent
from tlkeras_gnn.graph_readout import GraphReadout
from tlkeras_gnn.link_predictor_head import LinkAUC
from tlkeras_gnn.link_predictor_head import LinkPredictionLoss
from tlkeras_gnn.link_predictor_head import LinkPredictorHead
from tlkeras_gnn.link_predictor_head import link_targets
from tlkeras_gnn.link_predictor_head import negative_pairs
from tlkeras_gnn.node_classifier_head import NodeClassifierHead
from tlkeras_gnn.sage_conv import SAGEConv

HEADS = {
    "node_classifier": NodeClassifierHead,
    "graph_classifier": GraphClassifierHead,
    "link_predictor": LinkPredictorHead,
}
for _name, _head in HEADS.items():
    register_head(_name, _head)

__all__ = [
    "AttributeMasking",
    "GCNConv",
    "GINConv",
    "GraphBackbone",
    "GraphClassifierHead",
    "GraphContrastive",
    "GraphReadout",
    "LinkAUC",
    "LinkPredictionLoss",
    "LinkPredictorHead",
    "NodeClassifierHead",
    "SAGEConv",
    "batch_graphs",
    "from_networkx",
    "gcn",
    "gin",
    "graph_dataset",
    "graph_dataset_fn",
    "graphsage",
    "induced_subgraph",
    "link_targets",
    "message_passing_backbone",
    "negative_pairs",
    "node_dataset",
    "node_dataset_fn",
    "nt_xent",
    "unbatch_graphs",
]
