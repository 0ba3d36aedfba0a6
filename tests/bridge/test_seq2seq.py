"""The sequence-to-sequence references: attention against torch, masks, causality, decoding."""

import torch
from torch.nn import functional as F  # noqa: N812

from i2dl_lab.bridge import seq2seq as s2s


def test_attention_matches_torch_scaled_dot_product_with_a_mask():
    torch.manual_seed(0)
    mha = s2s.MultiHeadAttention(8, 2).double()
    xq, xkv = torch.randn(2, 3, 8, dtype=torch.float64), torch.randn(2, 5, 8, dtype=torch.float64)
    mask = torch.rand(2, 3, 5) < 0.7
    mask[..., 0] = True
    out, w = mha(xq, xkv, mask)
    split = lambda t: t.view(2, -1, 2, 4).transpose(1, 2)  # noqa: E731
    ref = F.scaled_dot_product_attention(split(mha.q(xq)), split(mha.k(xkv)), split(mha.v(xkv)),
                                         attn_mask=mask.unsqueeze(1))
    torch.testing.assert_close(out, mha.o(ref.transpose(1, 2).reshape(2, 3, 8)))
    assert w.shape == (2, 2, 3, 5)
    torch.testing.assert_close(w.sum(-1), torch.ones(2, 2, 3, dtype=torch.float64))
    assert (w.masked_select(~mask.unsqueeze(1)) == 0).all()


def test_masks_by_hand():
    src = torch.tensor([[5, 6, 0]])
    tgt = torch.tensor([[1, 7, 0]])
    enc, self_m, cross = s2s.make_masks(src, tgt)
    assert enc.tolist() == [[[True, True, False]] * 3]
    assert self_m.tolist() == [[[True, False, False], [True, True, False], [True, True, False]]]
    assert cross.shape == (1, 3, 3) and cross.tolist() == enc.tolist()


def test_decoder_is_causal_and_greedy_decoding_matches_a_teacher_forced_pass():
    torch.manual_seed(0)
    model = s2s.Seq2SeqTransformer(12, 9, d_model=16, num_heads=2, num_layers=2, dim_ff=32, dropout=0.0).eval()
    src = torch.randint(3, 12, (3, 6))
    tgt = torch.randint(3, 9, (3, 5))
    tgt[:, 0] = 1
    with torch.no_grad():
        a = model(src, tgt, *s2s.make_masks(src, tgt))
        tgt2 = tgt.clone()
        tgt2[:, 3:] = 4  # change the future
        b = model(src, tgt2, *s2s.make_masks(src, tgt2))
    torch.testing.assert_close(a[:, :3], b[:, :3])
    out = s2s.greedy_decode(model, src, max_len=4)
    assert out.shape == (3, 4)
    for i in range(3):  # each greedy token is the argmax after the row's own prefix
        row = out[i]
        n = int((row == 2).nonzero()[0]) + 1 if (row == 2).any() else 4
        prefix = torch.cat([torch.tensor([1]), row[:n - 1]])[None]
        with torch.no_grad():
            logits = model(src[i:i + 1], prefix, *s2s.make_masks(src[i:i + 1], prefix))
        assert logits[0].argmax(-1).tolist() == row[:n].tolist()
        assert (row[n:] == 0).all()


def test_loss_ignores_padding_and_gru_reads_the_last_real_token():
    torch.manual_seed(0)
    gru = s2s.GRUSeq2Seq(10, 7, embed=8, hidden=12)
    src = torch.tensor([[4, 5, 6, 0, 0]])
    enc_mask = s2s.make_masks(src, src[:, :1])[0]
    states, _ = gru.enc(gru.src_emb(src))
    torch.testing.assert_close(gru.encode(src, enc_mask)[:, 0], states[:, 2])
    tgt = torch.tensor([[1, 3, 4, 2, 0, 0]])
    loss = s2s.seq2seq_loss(gru, src, tgt)
    tgt_short = tgt[:, :4]
    torch.testing.assert_close(loss, s2s.seq2seq_loss(gru, src, tgt_short))
